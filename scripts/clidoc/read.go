package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Binaries are the project's binaries, in the order of the reference.
var Binaries = []string{"producer", "sender", "retrier"}

// Command is one subcommand and its --help text.
type Command struct {
	Binary, Name, Summary string
	Help                  string
	Flags                 map[string]bool // flag names without dashes
}

// Reference is every command of every binary.
type Reference struct {
	Usage    map[string]string // binary → its --help
	Commands []Command
}

// Find returns the command, or nil.
func (r *Reference) Find(binary, name string) *Command {
	for i := range r.Commands {
		if c := &r.Commands[i]; c.Binary == binary && c.Name == name {
			return c
		}
	}
	return nil
}

// Build builds the binaries into dir (go build, from the module root).
func Build(dir string) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	args := []string{"build", "-trimpath", "-o", dir + string(os.PathSeparator)}
	for _, b := range Binaries {
		args = append(args, "./"+b)
	}
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %w\n%s", err, out)
	}
	return nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the sendonce module: run from the repository")
	}
	return filepath.Dir(mod), nil
}

// Read runs each binary of dir with --help, then each of its commands.
func Read(dir string) (*Reference, error) {
	ref := &Reference{Usage: map[string]string{}}
	for _, b := range Binaries {
		path := filepath.Join(dir, b)
		usage, err := help(path)
		if err != nil {
			return nil, err
		}
		ref.Usage[b] = usage
		cmds := parseCommands(usage)
		if len(cmds) == 0 {
			return nil, fmt.Errorf("%s --help lists no command under \"commands:\":\n%s", b, usage)
		}
		for _, c := range cmds {
			h, err := help(path, c[0])
			if err != nil {
				return nil, err
			}
			ref.Commands = append(ref.Commands, Command{Binary: b, Name: c[0], Summary: c[1], Help: h, Flags: parseFlags(h)})
		}
	}
	return ref, nil
}

// help runs bin [cmd] --help with an environment that holds no SENDONCE_*
// setting, so that the text is the same on every machine.
func help(bin string, cmd ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, bin, append(cmd, "--help")...)
	c.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(), "LANG=C"}
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Run(); err != nil {
		return "", fmt.Errorf("%s %s --help: %w\n%s", filepath.Base(bin), strings.Join(cmd, " "), err, out.String())
	}
	return strings.TrimRight(out.String(), "\n") + "\n", nil
}

var (
	commandLine  = regexp.MustCompile(`^  ([a-z][a-z-]*)\s+(\S.*)$`)
	continuation = regexp.MustCompile(`^\s{4,}(\S.*)$`)
	flagLine     = regexp.MustCompile(`^  -{1,2}([a-z0-9][a-z0-9-]*)\b`)
)

// parseCommands reads the "commands:" list of a usage text: a name at two
// spaces and its summary, continued on more indented lines.
func parseCommands(usage string) [][2]string {
	var out [][2]string
	in := false
	for _, l := range strings.Split(usage, "\n") {
		switch {
		case strings.TrimSpace(l) == "commands:":
			in = true
		case !in:
		case strings.TrimSpace(l) == "":
			if len(out) > 0 {
				return out
			}
		case commandLine.MatchString(l):
			m := commandLine.FindStringSubmatch(l)
			out = append(out, [2]string{m[1], strings.TrimSpace(m[2])})
		case continuation.MatchString(l) && len(out) > 0:
			out[len(out)-1][1] += " " + strings.TrimSpace(l)
		}
	}
	return out
}

// parseFlags reads the flag names of a --help text (Go's flag package
// prints each as "  -name type").
func parseFlags(help string) map[string]bool {
	fl := map[string]bool{}
	for _, l := range strings.Split(help, "\n") {
		if m := flagLine.FindStringSubmatch(l); m != nil {
			fl[m[1]] = true
		}
	}
	return fl
}
