export * from "./config";
export * from "./defaults";
export * from "./errors";
export * from "./quantity";
export * from "./schema";
export * from "./stackFile";
