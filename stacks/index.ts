export * from "./clusters";
export * from "./config";
export * from "./defaults";
export * from "./errors";
export * from "./schema";
export * from "./stackFile";
