package deploytest

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	sigyaml "sigs.k8s.io/yaml"
)

// kustomization is the part of kustomize's Kustomization these manifests
// use. Kustomize itself is not available offline, so render emulates the
// features below exactly and nothing else; a kustomization that uses
// anything more fails to decode.
type kustomization struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Namespace  string           `json:"namespace,omitempty"`
	Resources  []string         `json:"resources,omitempty"`
	Images     []kustomizeImage `json:"images,omitempty"`
	Patches    []kustomizePatch `json:"patches,omitempty"`
}

type kustomizeImage struct {
	Name    string `json:"name"`
	NewName string `json:"newName,omitempty"`
	NewTag  string `json:"newTag,omitempty"`
	Digest  string `json:"digest,omitempty"`
}

type kustomizePatch struct {
	Path   string `json:"path"`
	Target struct {
		Kind string `json:"kind"`
		Name string `json:"name"`
	} `json:"target"`
}

// object is one manifest document, generic (JSON-decoded).
type object struct {
	File string // relative to the repository root
	Kind string
	Name string
	Doc  map[string]any
}

func (o object) id() string { return o.Kind + "/" + o.Name }

// clusterScoped are the kinds kustomize does not give a namespace.
var clusterScoped = map[string]bool{"Namespace": true, "ClusterRole": true, "ClusterRoleBinding": true}

// loadObjects decodes every document of a manifest file, generically.
func loadObjects(t *testing.T, rel string) []object {
	t.Helper()
	var out []object
	for i, doc := range splitYAML(readFile(t, rel)) {
		j, err := sigyaml.YAMLToJSON(doc)
		require.NoError(t, err, "%s document %d", rel, i)
		var m map[string]any
		require.NoError(t, json.Unmarshal(j, &m), "%s document %d", rel, i)
		kind, _ := m["kind"].(string)
		md, _ := m["metadata"].(map[string]any)
		name, _ := md["name"].(string)
		require.NotEmpty(t, kind, "%s document %d: no kind", rel, i)
		require.NotEmpty(t, name, "%s document %d: no metadata.name", rel, i)
		out = append(out, object{File: rel, Kind: kind, Name: name, Doc: m})
	}
	return out
}

func loadKustomization(t *testing.T, dir string) kustomization {
	t.Helper()
	rel := filepath.Join(dir, "kustomization.yaml")
	var k kustomization
	require.NoError(t, sigyaml.UnmarshalStrict(readFile(t, rel), &k), rel)
	require.Equal(t, "kustomize.config.k8s.io/v1beta1", k.APIVersion, rel)
	require.Equal(t, "Kustomization", k.Kind, rel)
	return k
}

// render builds the objects of the kustomization in dir (relative to the
// repository root) the way kustomize build would for the features used
// here: resources (files and directories of other kustomizations),
// namespace, patches (RFC 6902, by kind and name) and images.
func render(t *testing.T, dir string) []object {
	t.Helper()
	k := loadKustomization(t, dir)
	var objs []object
	for _, r := range k.Resources {
		rel := filepath.Clean(filepath.Join(dir, r))
		st, err := os.Stat(path(t, rel))
		require.NoError(t, err, "%s/kustomization.yaml: resource %s", dir, r)
		if st.IsDir() {
			objs = append(objs, render(t, rel)...)
			continue
		}
		objs = append(objs, loadObjects(t, rel)...)
	}
	seen := map[string]string{}
	for _, o := range objs {
		prev, dup := seen[o.id()]
		require.False(t, dup, "%s is defined twice (%s and %s)", o.id(), prev, o.File)
		seen[o.id()] = o.File
	}
	if k.Namespace != "" {
		for _, o := range objs {
			if clusterScoped[o.Kind] {
				continue
			}
			o.Doc["metadata"].(map[string]any)["namespace"] = k.Namespace
		}
	}
	for _, p := range k.Patches {
		rel := filepath.Join(dir, p.Path)
		var ops []patchOp
		require.NoError(t, sigyaml.UnmarshalStrict(readFile(t, rel), &ops), "%s: a patch here is a list of RFC 6902 operations", rel)
		require.NotEmpty(t, ops, rel)
		matched := 0
		for i, o := range objs {
			if o.Kind != p.Target.Kind || o.Name != p.Target.Name {
				continue
			}
			doc, err := applyPatch(o.Doc, ops)
			require.NoError(t, err, "%s on %s", rel, o.id())
			objs[i].Doc = doc.(map[string]any)
			matched++
		}
		require.Equal(t, 1, matched, "%s: target %s/%s must match exactly one object", rel, p.Target.Kind, p.Target.Name)
	}
	for _, img := range k.Images {
		used := false
		for _, o := range objs {
			forEachContainer(o.Doc, func(c map[string]any) {
				name, tag, digest := splitImage(c["image"].(string))
				if name != img.Name {
					return
				}
				used = true
				if img.NewName != "" {
					name = img.NewName
				}
				if img.NewTag != "" {
					tag = img.NewTag
				}
				if img.Digest != "" {
					digest = img.Digest
				}
				ref := name
				if tag != "" {
					ref += ":" + tag
				}
				if digest != "" {
					ref += "@" + digest
				}
				c["image"] = ref
			})
		}
		require.True(t, used, "%s/kustomization.yaml: image %s is used by no container", dir, img.Name)
	}
	return objs
}

// splitImage splits an image reference into name, tag and digest.
func splitImage(ref string) (name, tag, digest string) {
	name, digest, _ = strings.Cut(ref, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name, tag = name[:i], name[i+1:]
	}
	return name, tag, digest
}

// forEachContainer calls fn for every container and init container of the
// pod template of a Deployment, CronJob (or bare Pod spec) in doc.
func forEachContainer(doc map[string]any, fn func(c map[string]any)) {
	spec := podSpecOf(doc)
	if spec == nil {
		return
	}
	for _, key := range []string{"initContainers", "containers"} {
		cs, _ := spec[key].([]any)
		for _, c := range cs {
			if m, ok := c.(map[string]any); ok {
				fn(m)
			}
		}
	}
}

func podSpecOf(doc map[string]any) map[string]any {
	dig := func(m map[string]any, keys ...string) map[string]any {
		for _, k := range keys {
			next, ok := m[k].(map[string]any)
			if !ok {
				return nil
			}
			m = next
		}
		return m
	}
	switch doc["kind"] {
	case "Deployment", "StatefulSet", "DaemonSet", "Job":
		return dig(doc, "spec", "template", "spec")
	case "CronJob":
		return dig(doc, "spec", "jobTemplate", "spec", "template", "spec")
	}
	return nil
}

// yamlFiles lists the .yaml/.yml files under dir (relative to the root).
func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	root := path(t, dir)
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != root && fileExists(filepath.Join(p, "kustomization.yaml")) {
				return filepath.SkipDir // another kustomization: checked on its own
			}
			return nil
		}
		if strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml") {
			rel, err := filepath.Rel(repoRoot(t), p)
			if err != nil {
				return err
			}
			out = append(out, rel)
		}
		return nil
	}))
	sort.Strings(out)
	return out
}

// kustomizeDirs are the kustomizations under deploy/.
var kustomizeDirs = []string{"deploy/base", "deploy/overlays/production"}

// TestKustomizationsListEveryFile checks that each kustomization's
// resources and patches exist and that every manifest next to it is used:
// a file that is not listed would silently never be applied.
func TestKustomizationsListEveryFile(t *testing.T) {
	var found []string
	require.NoError(t, filepath.WalkDir(path(t, "deploy"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Name() == "kustomization.yaml" {
			rel, _ := filepath.Rel(repoRoot(t), filepath.Dir(p))
			found = append(found, rel)
		}
		return err
	}))
	require.ElementsMatch(t, kustomizeDirs, found, "every kustomization under deploy/ must be listed in kustomizeDirs (and rendered by the tests)")
	for _, dir := range kustomizeDirs {
		t.Run(dir, func(t *testing.T) {
			k := loadKustomization(t, dir)
			listed := map[string]bool{filepath.Join(dir, "kustomization.yaml"): true}
			for _, r := range k.Resources {
				rel := filepath.Clean(filepath.Join(dir, r))
				require.True(t, fileExists(path(t, rel)), "resource %s does not exist", r)
				listed[rel] = true
			}
			for _, p := range k.Patches {
				rel := filepath.Join(dir, p.Path)
				require.FileExists(t, path(t, rel), "patch %s", p.Path)
				listed[rel] = true
			}
			for _, f := range yamlFiles(t, dir) {
				if strings.HasSuffix(f, ".example.yaml") {
					require.False(t, listed[f], "%s is an example and must not be applied", f)
					continue
				}
				require.True(t, listed[f], "%s is neither a resource nor a patch of %s/kustomization.yaml", f, dir)
			}
		})
	}
}

func TestSplitImage(t *testing.T) {
	tests := []struct{ ref, name, tag, digest string }{
		{"ghcr.io/sendonce/sender:main", "ghcr.io/sendonce/sender", "main", ""},
		{"ghcr.io/sendonce/sender", "ghcr.io/sendonce/sender", "", ""},
		{"registry:5000/a/b:1.2.3@sha256:abc", "registry:5000/a/b", "1.2.3", "sha256:abc"},
		{"registry:5000/a/b", "registry:5000/a/b", "", ""},
	}
	for _, tt := range tests {
		n, tag, d := splitImage(tt.ref)
		require.Equal(t, []string{tt.name, tt.tag, tt.digest}, []string{n, tag, d}, tt.ref)
	}
}
