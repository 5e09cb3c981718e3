package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// microPkgs are the packages whose benchmarks cover the hot path: job
// codec, SES classification and input, fence claim/arm/mark, rate limiter,
// and the SES SDK against the fake (the cost of one SendEmail).
var microPkgs = []string{"./pkg/job", "./pkg/ses", "./pkg/fence", "./pkg/ratelimit", "./pkg/sesfake"}

type microLine struct {
	Name   string // package short name + benchmark
	NsOp   float64
	BOp    float64
	Allocs float64
	Extra  string // other reported metrics (B/key, sends/s ...)
	Runs   int
}

func (b *bench) microCommand() []string {
	return append([]string{"go", "test", "-run", "^$", "-bench", ".", "-benchmem", "-count", strconv.Itoa(b.o.microCount), "-benchtime", b.o.microTime}, microPkgs...)
}

// micro runs the Go micro-benchmarks, saves their benchstat-ready output
// to <out>/micro.txt and keeps the median of each.
func (b *bench) micro(ctx context.Context) error {
	argv := b.microCommand()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = os.Environ()
	path := filepath.Join(b.o.out, "micro.txt")
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(path, out, 0o644)
	if err != nil {
		return fmt.Errorf("%s: %v (output in %s)", strings.Join(argv, " "), err, path)
	}
	b.res.Micro = parseMicro(string(out))
	b.res.MicroPath = path
	return nil
}

// parseMicro reads `go test -bench` output: for each benchmark the median
// of its runs.
func parseMicro(out string) []microLine {
	type acc struct {
		ns, bop, allocs []float64
		extra           map[string][]float64
		order           int
	}
	byName := map[string]*acc{}
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = p[strings.LastIndexByte(p, '/')+1:]
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		name := pkg + "." + strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			name = name[:i] // the GOMAXPROCS suffix
		}
		a := byName[name]
		if a == nil {
			a = &acc{extra: map[string][]float64{}, order: len(byName)}
			byName[name] = a
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				a.ns = append(a.ns, v)
			case "B/op":
				a.bop = append(a.bop, v)
			case "allocs/op":
				a.allocs = append(a.allocs, v)
			case "MB/s":
			default:
				a.extra[f[i+1]] = append(a.extra[f[i+1]], v)
			}
		}
	}
	out2 := make([]microLine, 0, len(byName))
	for name, a := range byName {
		m := microLine{Name: name, NsOp: median(a.ns), BOp: median(a.bop), Allocs: median(a.allocs), Runs: len(a.ns)}
		var ex []string
		for unit, vs := range a.extra {
			ex = append(ex, fmt.Sprintf("%.0f %s", median(vs), unit))
		}
		slices.Sort(ex)
		m.Extra = strings.Join(ex, ", ")
		out2 = append(out2, m)
	}
	slices.SortFunc(out2, func(x, y microLine) int { return byName[x.Name].order - byName[y.Name].order })
	return out2
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
