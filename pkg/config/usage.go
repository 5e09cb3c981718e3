package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// ExitUsage is the exit code of every binary for a bad flag or argument.
const ExitUsage = 2

// UsageError is a bad flag or argument: the binaries print it and exit 2.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Usage marks err (if any) as a usage error.
func Usage(err error) error {
	if err == nil {
		return nil
	}
	var ue UsageError
	if errors.As(err, &ue) {
		return err
	}
	return UsageError{err}
}

// ExitCode is 0 for nil and for --help (flag.ErrHelp), 2 for a usage error
// and 1 otherwise.
func ExitCode(err error) int {
	var ue UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		return ExitUsage
	default:
		return 1
	}
}

// Markers in the help text of a flag, which Parse checks after the command
// line and the environment.
const (
	requiredMark = "(required) "
	positiveMark = " (must be > 0)"
)

// Require marks the named flags of fs as required: their help starts with
// "(required)", and Parse returns one usage error naming every one that is
// empty after the command line and the environment ("--campaign is
// required", one line each). "campaign|campaign-from-date" requires one of
// the two ("(required unless --campaign-from-date)"). It panics on a name fs
// does not define.
func Require(fs *flag.FlagSet, names ...string) {
	for _, n := range names {
		parts := strings.Split(n, "|")
		f := lookup(fs, "Require", parts[0])
		for _, alt := range parts[1:] {
			lookup(fs, "Require", alt)
		}
		if strings.HasPrefix(f.Usage, "(required") {
			continue
		}
		mark := requiredMark
		if len(parts) > 1 {
			mark = "(required unless --" + strings.Join(parts[1:], " or --") + ") "
		}
		f.Usage = mark + f.Usage
	}
}

// requiredAlternatives parses the mark Require left in a help text: whether
// the flag is required, and the flags that can stand in for it.
func requiredAlternatives(usage string) (bool, []string) {
	if strings.HasPrefix(usage, requiredMark) {
		return true, nil
	}
	const unless = "(required unless --"
	if !strings.HasPrefix(usage, unless) {
		return false, nil
	}
	rest, _, ok := strings.Cut(usage[len(unless):], ") ")
	if !ok {
		return false, nil
	}
	return true, strings.Split(rest, " or --")
}

// Positive marks duration flags of fs that make no sense at 0 or below:
// Parse rejects "--drain-timeout 0" (or SENDONCE_DRAIN_TIMEOUT=0) with a
// usage error naming the flag. It panics on a name fs does not define or
// that is not a duration.
func Positive(fs *flag.FlagSet, names ...string) {
	for _, n := range names {
		f := lookup(fs, "Positive", n)
		if g, ok := f.Value.(flag.Getter); !ok {
			panic("config.Positive: --" + n + " is not a duration")
		} else if _, ok := g.Get().(time.Duration); !ok {
			panic("config.Positive: --" + n + " is not a duration")
		}
		if !strings.Contains(f.Usage, positiveMark) {
			f.Usage += positiveMark
		}
	}
}

func lookup(fs *flag.FlagSet, fn, name string) *flag.Flag {
	f := fs.Lookup(name)
	if f == nil {
		panic("config." + fn + ": no flag --" + name)
	}
	return f
}

// FlagErrors is what Parse found wrong with the flags marked by Require and
// Positive: every one of them, one line each.
type FlagErrors struct {
	// Flags are the names of the flags at fault.
	Flags []string
	Errs  []error
}

func (e *FlagErrors) Error() string   { return errors.Join(e.Errs...).Error() }
func (e *FlagErrors) Unwrap() []error { return e.Errs }

// With adds the lines of err (a command's own Validate) that are about
// other flags than e's, so that a caller can report every problem at once
// without naming a flag twice.
func (e *FlagErrors) With(err error) error {
	if err == nil {
		return e
	}
	out := &FlagErrors{Flags: e.Flags, Errs: e.Errs}
	for _, line := range strings.Split(err.Error(), "\n") {
		dup := false
		for _, f := range e.Flags {
			if mentions(line, f) {
				dup = true
				break
			}
		}
		if !dup && strings.TrimSpace(line) != "" {
			out.Errs = append(out.Errs, errors.New(line))
		}
	}
	return out
}

// mentions reports whether line names --flag (not a longer flag).
func mentions(line, flag string) bool {
	for i := 0; ; {
		j := strings.Index(line[i:], "--"+flag)
		if j < 0 {
			return false
		}
		end := i + j + 2 + len(flag)
		if end == len(line) || !strings.ContainsRune("abcdefghijklmnopqrstuvwxyz0123456789-", rune(line[end])) {
			return true
		}
		i = end
	}
}

// checkMarked lists, as one error, every required flag of fs left empty and
// every positive duration at 0 or below.
func checkMarked(fs *flag.FlagSet) error {
	var errs []error
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if req, alts := requiredAlternatives(f.Usage); req && strings.TrimSpace(f.Value.String()) == "" {
			given := false
			for _, a := range alts {
				if af := fs.Lookup(a); af != nil && strings.TrimSpace(af.Value.String()) != "" {
					given = true
				}
			}
			switch {
			case given:
			case len(alts) > 0:
				errs = append(errs, fmt.Errorf("--%s is required ($%s), or --%s", f.Name, EnvName(f.Name), strings.Join(alts, " or --")))
				names = append(names, f.Name)
				names = append(names, alts...)
			default:
				errs = append(errs, fmt.Errorf("--%s is required ($%s)", f.Name, EnvName(f.Name)))
				names = append(names, f.Name)
			}
		}
		if strings.Contains(f.Usage, positiveMark) {
			if d, ok := f.Value.(flag.Getter).Get().(time.Duration); ok && d <= 0 {
				errs = append(errs, fmt.Errorf("--%s must be positive (got %s)", f.Name, d))
				names = append(names, f.Name)
			}
		}
	})
	if len(errs) == 0 {
		return nil
	}
	return &FlagErrors{Flags: names, Errs: errs}
}

// hiddenMark starts the help text of a flag the command does not use.
const hiddenMark = "(not used by this command) "

// Hide marks flags of fs that the command never uses (the shared flags of
// RegisterCommon a command has no use for: Redis flags where it does not
// use Redis, Kafka flags where it does not use Kafka). They are still
// accepted, so that one configuration (flags or environment) fits every
// command, but --help (SetUsage) does not offer them with the command's own
// flags: it lists them apart, at the end. A name ending in "*"
// is a prefix ("redis-*"); names fs does not define are skipped.
func Hide(fs *flag.FlagSet, names ...string) {
	fs.VisitAll(func(f *flag.Flag) {
		for _, n := range names {
			match := f.Name == n
			if p, ok := strings.CutSuffix(n, "*"); ok {
				match = strings.HasPrefix(f.Name, p)
			}
			if match && !strings.HasPrefix(f.Usage, hiddenMark) {
				f.Usage = hiddenMark + f.Usage
			}
		}
	})
}

// Hidden reports whether Hide marked the flag.
func Hidden(f *flag.Flag) bool { return strings.HasPrefix(f.Usage, hiddenMark) }

// HiddenHeading introduces, in --help, the shared flags a command accepts
// but does not use (Hide).
const HiddenHeading = "shared flags this command accepts but does not use (one configuration fits every command):"

// SetUsage makes `--help` print the synopsis, the flags the command uses
// (required ones marked "(required)", each with its environment variable),
// examples, and last the shared flags it accepts but does not use.
func SetUsage(fs *flag.FlagSet, synopsis string, examples ...string) {
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintf(w, "Usage of %s:\n  %s\n\nflags:\n", fs.Name(), synopsis)
		shown := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
		unused := flag.NewFlagSet(fs.Name(), flag.ContinueOnError)
		shown.SetOutput(w)
		unused.SetOutput(w)
		n := 0
		fs.VisitAll(func(f *flag.Flag) {
			to, usage := shown, f.Usage
			if Hidden(f) {
				to, usage = unused, strings.TrimPrefix(f.Usage, hiddenMark)
				n++
			}
			to.Var(f.Value, f.Name, usage)
			to.Lookup(f.Name).DefValue = f.DefValue
		})
		shown.PrintDefaults()
		printExamples(w, examples)
		if n > 0 {
			fmt.Fprintf(w, "\n%s\n", HiddenHeading)
			unused.PrintDefaults()
		}
	}
}

func printExamples(w io.Writer, examples []string) {
	if len(examples) == 0 {
		return
	}
	fmt.Fprintln(w, "\nexamples:")
	for _, e := range examples {
		fmt.Fprintf(w, "  %s\n", e)
	}
}
