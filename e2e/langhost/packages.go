package main

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

type packageJSON struct {
	Name         string            `json:"name"`
	Version      string            `json:"version"`
	Dependencies map[string]string `json:"dependencies"`
	Pulumi       struct {
		Resource bool   `json:"resource"`
		Name     string `json:"name"`
		Version  string `json:"version"`
		Server   string `json:"server"`
	} `json:"pulumi"`
}

type pulumiPackage struct{ name, version, server string }

type dependency struct{ name, version string }

func readPackageJSON(dir string) (*packageJSON, error) {
	data, err := os.ReadFile(filepath.Join(dir, "package.json"))
	if err != nil {
		return nil, err
	}
	var p packageJSON
	if err := json.Unmarshal(data, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// resolve finds the directory Node's require would load dependency name from, starting at dir.
func resolve(dir, name string) (string, bool) {
	for d := dir; ; d = filepath.Dir(d) {
		candidate := filepath.Join(d, "node_modules", filepath.FromSlash(name))
		if _, err := os.Stat(filepath.Join(candidate, "package.json")); err == nil {
			return candidate, true
		}
		if filepath.Dir(d) == d {
			return "", false
		}
	}
}

// pulumiPackages walks the program's runtime dependency graph and reports every package that
// declares itself a Pulumi resource provider SDK ("pulumi": {"resource": true}), so that the engine
// knows up front which provider plugins, at which versions, the program will ask for.
func pulumiPackages(programDir string) ([]pulumiPackage, error) {
	root, err := readPackageJSON(programDir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	found := map[string]pulumiPackage{}
	var walk func(from string, deps map[string]string)
	walk = func(from string, deps map[string]string) {
		for name := range deps {
			dir, ok := resolve(from, name)
			if !ok || seen[dir] {
				continue
			}
			seen[dir] = true
			p, err := readPackageJSON(dir)
			if err != nil {
				continue
			}
			if p.Pulumi.Resource {
				pkg := pulumiPackage{name: p.Pulumi.Name, version: p.Pulumi.Version, server: p.Pulumi.Server}
				if pkg.name == "" {
					pkg.name = strings.TrimPrefix(p.Name, "@pulumi/")
				}
				if pkg.version == "" {
					pkg.version = p.Version
				}
				pkg.version = strings.TrimPrefix(pkg.version, "v")
				found[pkg.name+"@"+pkg.version] = pkg
			}
			walk(dir, p.Dependencies)
		}
	}
	walk(programDir, root.Dependencies)
	keys := make([]string, 0, len(found))
	for k := range found {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]pulumiPackage, 0, len(keys))
	for _, k := range keys {
		out = append(out, found[k])
	}
	return out, nil
}

// directDependencies lists the program's declared dependencies at the versions actually installed.
func directDependencies(programDir string) ([]dependency, error) {
	root, err := readPackageJSON(programDir)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(root.Dependencies))
	for name := range root.Dependencies {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []dependency
	for _, name := range names {
		dir, ok := resolve(programDir, name)
		if !ok {
			continue
		}
		if p, err := readPackageJSON(dir); err == nil {
			out = append(out, dependency{name: name, version: p.Version})
		}
	}
	return out, nil
}
