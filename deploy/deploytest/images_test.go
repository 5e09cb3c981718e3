package deploytest

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestImagesTarget: `make images` builds the three Dockerfiles from the
// repository root, named by IMAGE_REPO and IMAGE_TAG, and `make
// images-push` pushes them (checked with make -n: no docker needed).
func TestImagesTarget(t *testing.T) {
	run := func(target string) string {
		cmd := exec.Command("make", "-n", target, "IMAGE_REPO=reg.example/sendonce", "IMAGE_TAG=1.2.3")
		cmd.Dir = repoRoot(t)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "make -n %s:\n%s", target, out)
		return string(out)
	}
	build, push := run("images"), run("images-push")
	for _, bin := range sendonceServices {
		require.Contains(t, build, "docker build -f "+bin+"/Dockerfile -t reg.example/sendonce/"+bin+":1.2.3 .")
		require.Contains(t, push, "docker push reg.example/sendonce/"+bin+":1.2.3")
	}
}

// TestDockerfilesCopyOnlyWhatTheyBuild: the build stage copies go.mod,
// go.sum, pkg/ and the binary's own folder, nothing else (no `COPY . .`
// that would pull data files or another binary's code into the image
// build); every base image is pinned by digest, the same in the three.
func TestDockerfilesCopyOnlyWhatTheyBuild(t *testing.T) {
	from := regexp.MustCompile(`(?m)^FROM (\S+)`)
	digests := map[string]string{}
	for _, bin := range sendonceServices {
		df := string(readFile(t, bin, "Dockerfile"))
		var copies []string
		for _, line := range strings.Split(df, "\n") {
			if strings.HasPrefix(line, "COPY ") && !strings.HasPrefix(line, "COPY --from=") {
				copies = append(copies, line)
			}
		}
		require.Equal(t, []string{"COPY go.mod go.sum ./", "COPY pkg/ pkg/", "COPY " + bin + "/ " + bin + "/"}, copies, "%s/Dockerfile", bin)
		for _, m := range from.FindAllStringSubmatch(df, -1) {
			name, digest, ok := strings.Cut(m[1], "@sha256:")
			require.True(t, ok && regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(digest), "%s/Dockerfile: FROM %s is not pinned by digest", bin, m[1])
			if prev, seen := digests[name]; seen {
				require.Equal(t, prev, digest, "%s/Dockerfile pins %s differently from the other Dockerfiles", bin, name)
			}
			digests[name] = digest
		}
	}
	require.Len(t, digests, 2, "one build image and one runtime image")
}

// TestDockerignoreKeepsDataOut: customer data and credentials never reach
// the build context; the sources do.
func TestDockerignoreKeepsDataOut(t *testing.T) {
	var patterns []*regexp.Regexp
	for _, line := range strings.Split(string(readFile(t, ".dockerignore")), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		require.False(t, strings.HasPrefix(line, "!"), ".dockerignore re-includes %q: keep it a plain exclusion list", line)
		patterns = append(patterns, dockerignoreRE(line))
	}
	excluded := func(p string) bool {
		parts := strings.Split(p, "/")
		for i := 1; i <= len(parts); i++ { // a path is out when it or a parent matches
			prefix := strings.Join(parts[:i], "/")
			for _, re := range patterns {
				if re.MatchString(prefix) {
					return true
				}
			}
		}
		return false
	}
	for _, p := range []string{
		"users.csv", "data/users-2026-11.csv", "exports/users.jsonl", "outbox/2026-11/u1.eml", "rejects.jsonl",
		"tmp/2026-11-rejects.json", ".cache/services/tls/ca.pem", "tls/client.key", "certs/ca.crt", ".env",
		"bin/sender", "sender.test", "cpu.prof",
	} {
		require.True(t, excluded(p), ".dockerignore lets %s into the build context", p)
	}
	for _, p := range []string{"go.mod", "go.sum", "pkg/job/job.go", "pkg/secret/secret.go", "sender/main.go", "producer/Dockerfile"} {
		require.False(t, excluded(p), ".dockerignore keeps %s out, but the build needs it", p)
	}
}

// dockerignoreRE turns a .dockerignore pattern (Go filepath.Match plus
// "**") into a regexp over slash paths from the context root.
func dockerignoreRE(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for i := 0; i < len(p); i++ {
		switch {
		case strings.HasPrefix(p[i:], "**/"):
			b.WriteString("(.*/)?")
			i += 2
		case strings.HasPrefix(p[i:], "**"):
			b.WriteString(".*")
			i++
		case p[i] == '*':
			b.WriteString("[^/]*")
		case p[i] == '?':
			b.WriteString("[^/]")
		default:
			b.WriteString(regexp.QuoteMeta(string(p[i])))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}
