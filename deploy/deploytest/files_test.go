package deploytest

import (
	"io/fs"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestDockerfiles: the three services build the same way: a static binary
// on a distroless, non-root base; the emulator image installs exactly the
// pinned npm packages.
func TestDockerfiles(t *testing.T) {
	for _, bin := range sendonceServices {
		t.Run(bin, func(t *testing.T) {
			df := string(readFile(t, bin, "Dockerfile"))
			require.Regexp(t, `(?m)^FROM golang:1\.26\S*@sha256:[0-9a-f]{64} AS build$`, df)
			require.Regexp(t, `(?m)^RUN CGO_ENABLED=0 ([A-Z0-9_]+=\S+ )*go build .*-o /out/`+bin+` \./`+bin+`$`, df)
			require.Regexp(t, `(?m)^FROM gcr\.io/distroless/static-debian12:nonroot@sha256:[0-9a-f]{64}$`, df)
			require.Regexp(t, `(?m)^USER (65532|nonroot)(:(65532|nonroot))?$`, df)
			require.Regexp(t, `(?m)^ENTRYPOINT \["/`+bin+`"\]$`, df)
			require.NotRegexp(t, `(?m)^USER (0|root)`, df)
			checkDockerContext(t, bin, df)
		})
	}
	t.Run("ses-emulator", func(t *testing.T) {
		df := string(readFile(t, "deploy", "ses-emulator", "Dockerfile"))
		require.Contains(t, df, "COPY scripts/ses/package.json scripts/ses/package-lock.json ./")
		require.Contains(t, df, "npm ci")
		require.Contains(t, df, `"--port", "8005"`)
		require.FileExists(t, path(t, "scripts", "ses", "package-lock.json"))
		require.Contains(t, string(readFile(t, "scripts", "ses", "package-lock.json")), `"node_modules/aws-ses-v2-local"`)
	})
}

// secretLike are patterns of real credentials.
var secretLike = []*regexp.Regexp{
	regexp.MustCompile(`\b(AKIA|ASIA)[0-9A-Z]{16}\b`),                            // AWS access key id
	regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----`),                     // PEM keys
	regexp.MustCompile(`(?i)aws_secret_access_key\s*[:=]\s*[A-Za-z0-9/+]{40}\b`), // AWS secret
	regexp.MustCompile(`\bgh[pousr]_[A-Za-z0-9]{36}\b`),                          // GitHub tokens
}

// TestNoSecrets scans the deployment files for anything that looks like a
// real credential.
func TestNoSecrets(t *testing.T) {
	files := []string{"docker-compose.yml"}
	require.NoError(t, filepath.WalkDir(path(t, "deploy"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		rel, err := filepath.Rel(repoRoot(t), p)
		files = append(files, rel)
		return err
	}))
	for _, f := range files {
		b := readFile(t, f)
		for _, re := range secretLike {
			require.False(t, re.Match(b), "%s holds something that looks like a real credential (%s)", f, re)
		}
	}
}

// checkDockerContext checks that the build stage copies every directory of
// the module the binary is built from (a Dockerfile that copies only some
// directories breaks when a new internal package is imported).
func checkDockerContext(t *testing.T, bin, df string) {
	t.Helper()
	var copied []string
	for _, m := range regexp.MustCompile(`(?m)^COPY (\S+) \S+$`).FindAllStringSubmatch(df, -1) {
		copied = append(copied, strings.TrimSuffix(strings.TrimPrefix(m[1], "./"), "/"))
	}
	cmd := exec.Command(goTool(), "list", "-deps", "-f", "{{if .Module}}{{if .Module.Main}}{{.Dir}}{{end}}{{end}}", "./"+bin)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go list ./%s:\n%s", bin, out)
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(repoRoot(t), dir)
		require.NoError(t, err)
		covered := false
		for _, c := range copied {
			covered = covered || c == "." || rel == c || strings.HasPrefix(rel, c+"/")
		}
		require.True(t, covered, "%s/Dockerfile: the build needs %s, which no COPY brings in", bin, rel)
	}
}
