package deploytest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// subcommands of each binary whose flags a deployment may set (CONTRACT.md).
var subcommands = map[string][]string{
	"producer": {"publish", "status", "preview"},
	"sender":   {"run", "replay", "fence-restore", "reconcile"},
	"retrier":  {"run", "redrive"},
}

// built caches one build of each binary per test process.
var built struct {
	sync.Mutex
	dir  string
	bins map[string]error
}

// goTool is the go command: `go test` puts its own GOROOT/bin first on the
// PATH of the tests.
func goTool() string { return "go" }

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// binary builds ./<name> from the repository (once) and returns its path.
func binary(t *testing.T, name string) string {
	t.Helper()
	built.Lock()
	defer built.Unlock()
	if built.bins == nil {
		dir, err := os.MkdirTemp("", "sendonce-deploytest-")
		require.NoError(t, err)
		built.dir, built.bins = dir, map[string]error{}
	}
	out := filepath.Join(built.dir, name)
	err, done := built.bins[name]
	if !done {
		// The flags of `make build`, so that both share the build cache.
		cmd := exec.Command(goTool(), "build", "-trimpath", "-o", out, "./"+name)
		cmd.Dir = repoRoot(t)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if b, berr := cmd.CombinedOutput(); berr != nil {
			err = fmt.Errorf("go build ./%s: %w\n%s", name, berr, b)
		}
		built.bins[name] = err
	}
	require.NoError(t, err, "the %s binary must build to check the deployment's flags and environment against it", name)
	return out
}

// TestMain removes the binaries built for the tests.
func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// helpFlags returns the flags of `<binary> <command> --help`.
func helpFlags(t *testing.T, bin, command string) map[string]flagInfo {
	t.Helper()
	cmd := exec.Command(binary(t, bin), command, "--help")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir()}
	b, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		require.NoError(t, err)
	}
	text := string(b)
	require.Contains(t, text, "Usage of", "%s %s --help printed no flag list:\n%s", bin, command, text)
	flags := parseHelp(text)
	require.NotEmpty(t, flags, "%s %s --help: no flags parsed:\n%s", bin, command, text)
	return flags
}

// envOfFlags maps each flag's environment variable to the flag.
func envOfFlags(t *testing.T, flags map[string]flagInfo, what string) map[string]flagInfo {
	t.Helper()
	out := map[string]flagInfo{}
	for _, f := range flags {
		require.NotEmpty(t, f.Env, "%s: flag --%s has no ($ENV) in its usage: is the binary parsing with config.Parse?", what, f.Name)
		out[f.Env] = f
	}
	return out
}

// checkEnvNames fails for every variable in env that the command does not
// read: not the environment variable of one of its flags, nor an AWS SDK
// variable, nor a Go runtime one.
func checkEnvNames(t *testing.T, where, bin, command string, env []string) {
	t.Helper()
	known := envOfFlags(t, helpFlags(t, bin, command), bin+" "+command)
	for _, name := range env {
		if awsSDKEnv[name] || goRuntimeEnv[name] {
			continue
		}
		if strings.HasPrefix(name, "AWS_") {
			t.Errorf("%s: %s is not a variable the AWS SDK reads (known: %s)", where, name, strings.Join(sortedKeys(awsSDKEnv), ", "))
			continue
		}
		if _, ok := known[name]; !ok {
			t.Errorf("%s: %s is not read by `%s %s`: no flag of it has this environment variable (its variables: %s)",
				where, name, bin, command, strings.Join(sortedKeys(known), ", "))
		}
	}
}

// checkArgs fails for every --flag in args that the command does not have.
func checkArgs(t *testing.T, where, bin string, args []string) {
	t.Helper()
	if len(args) == 0 {
		return
	}
	command := args[0]
	require.Contains(t, subcommands[bin], command, "%s: %s has no command %q", where, bin, command)
	flags := helpFlags(t, bin, command)
	for _, a := range args[1:] {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name := strings.TrimLeft(a, "-")
		name, _, _ = strings.Cut(name, "=")
		if _, ok := flags[name]; !ok {
			t.Errorf("%s: `%s %s` has no flag --%s", where, bin, command, name)
		}
	}
}

// awsSDKEnv are the AWS SDK for Go v2 variables a deployment may set.
var awsSDKEnv = map[string]bool{
	"AWS_REGION": true, "AWS_DEFAULT_REGION": true, "AWS_PROFILE": true,
	"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
	"AWS_ROLE_ARN": true, "AWS_WEB_IDENTITY_TOKEN_FILE": true, "AWS_ROLE_SESSION_NAME": true,
	"AWS_ENDPOINT_URL": true, "AWS_ENDPOINT_URL_SESV2": true, "AWS_ENDPOINT_URL_ATHENA": true,
	"AWS_ENDPOINT_URL_S3": true, "AWS_ENDPOINT_URL_STS": true,
	"AWS_EC2_METADATA_DISABLED": true, "AWS_RETRY_MODE": true, "AWS_MAX_ATTEMPTS": true,
	"AWS_USE_FIPS_ENDPOINT": true, "AWS_USE_DUALSTACK_ENDPOINT": true,
}

// goRuntimeEnv are variables the Go runtime reads.
var goRuntimeEnv = map[string]bool{"GOMEMLIMIT": true, "GOMAXPROCS": true, "GOGC": true, "GODEBUG": true}
