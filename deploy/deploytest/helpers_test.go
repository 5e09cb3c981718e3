package deploytest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
)

// repoRoot is the directory of go.mod above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			rootErr = err
			return
		}
		for {
			if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
				rootDir = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				rootErr = fmt.Errorf("no go.mod above the test's directory")
				return
			}
			dir = parent
		}
	})
	require.NoError(t, rootErr)
	return rootDir
}

var (
	rootOnce sync.Once
	rootDir  string
	rootErr  error
)

// path joins parts under the repository root.
func path(t *testing.T, parts ...string) string {
	return filepath.Join(append([]string{repoRoot(t)}, parts...)...)
}

func readFile(t *testing.T, parts ...string) []byte {
	t.Helper()
	b, err := os.ReadFile(path(t, parts...))
	require.NoError(t, err)
	return b
}

// splitYAML splits a multi-document YAML file on "---" lines and drops
// documents that hold only comments or blanks.
func splitYAML(b []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if hasContent(cur.Bytes()) {
			docs = append(docs, append([]byte(nil), cur.Bytes()...))
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.TrimRight(line, " \r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

func hasContent(doc []byte) bool {
	for _, line := range strings.Split(string(doc), "\n") {
		l := strings.TrimSpace(line)
		if l != "" && !strings.HasPrefix(l, "#") {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------- --help

// flagInfo is one flag as `<binary> <command> --help` prints it.
type flagInfo struct {
	Name    string
	Env     string // from the "($ENV)" config.Parse appends to each usage
	Default string // as printed, quotes removed; "" when none is printed
}

var (
	helpFlagLine = regexp.MustCompile(`^  -([A-Za-z0-9][A-Za-z0-9_.-]*)`)
	helpEnv      = regexp.MustCompile(`\(\$([A-Z][A-Z0-9_]*)\)`)
	helpDefault  = regexp.MustCompile(`\(default (.*)\)\s*$`)
)

// parseHelp reads the flag list of Go's flag.PrintDefaults output.
func parseHelp(text string) map[string]flagInfo {
	flags := map[string]flagInfo{}
	var cur *flagInfo
	save := func() {
		if cur != nil {
			flags[cur.Name] = *cur
		}
	}
	for _, line := range strings.Split(text, "\n") {
		if m := helpFlagLine.FindStringSubmatch(line); m != nil {
			save()
			cur = &flagInfo{Name: m[1]}
			// One-letter flags print their usage on the same line.
			rest := line[len(m[0]):]
			cur.scan(rest)
			continue
		}
		if cur != nil && strings.HasPrefix(line, "    ") {
			cur.scan(line)
		}
	}
	save()
	return flags
}

func (f *flagInfo) scan(s string) {
	if m := helpEnv.FindStringSubmatch(s); m != nil {
		f.Env = m[1]
	}
	if m := helpDefault.FindStringSubmatch(s); m != nil {
		d := m[1]
		if u, err := strconv.Unquote(d); err == nil {
			d = u
		}
		f.Default = d
	}
}

// ---------------------------------------------------------------- PromQL

// promKeywords are the identifiers of PromQL that are not metric names when
// they are not followed by "(" (functions always are, and are skipped).
var promKeywords = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "inf": true, "nan": true,
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true, "start": true, "end": true, "atan2": true,
}

// promLabelLists are the keywords followed by a parenthesised label list.
var promLabelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// metricNames returns the metric names a PromQL expression selects, sorted
// and deduplicated. It is a small lexer, not a parser: strings, label
// matchers ({...}), ranges ([...]), label lists (by (...)) and function
// calls are skipped; promtool checks the syntax itself.
func metricNames(expr string) []string {
	s := stripPromQL(expr)
	seen := map[string]bool{}
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			// A number or a duration (5m, 1e3, 0x1f): skip it whole.
			for i < len(s) && (isIdent(s[i]) || s[i] == '.') {
				i++
			}
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			k := j
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
				k++
			}
			nextParen := k < len(s) && s[k] == '('
			lw := strings.ToLower(word)
			switch {
			case promLabelLists[lw] && nextParen:
				j = skipParens(s, k)
			case nextParen, promKeywords[lw]:
			default:
				seen[word] = true
			}
			i = j
		default:
			i++
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

// skipParens returns the index after the ")" that closes the "(" at s[i].
func skipParens(s string, i int) int {
	depth := 0
	for ; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(s)
}

// stripPromQL blanks out strings, comments, label matchers and ranges.
func stripPromQL(expr string) string {
	var b strings.Builder
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch c {
		case '"', '\'', '`':
			for i++; i < len(expr) && expr[i] != c; i++ {
				if expr[i] == '\\' && c != '`' {
					i++
				}
			}
			b.WriteByte(' ')
		case '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
			b.WriteByte(' ')
		case '{', '[':
			closing := byte('}')
			if c == '[' {
				closing = ']'
			}
			for i < len(expr) && expr[i] != closing {
				if expr[i] == '"' || expr[i] == '\'' || expr[i] == '`' {
					q := expr[i]
					for i++; i < len(expr) && expr[i] != q; i++ {
						if expr[i] == '\\' && q != '`' {
							i++
						}
					}
				}
				i++
			}
			b.WriteByte(' ')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// histogramSuffixes are the series suffixes of a histogram or summary whose
// base name is what deploy/metrics.txt lists.
var histogramSuffixes = []string{"_bucket", "_sum", "_count"}

// baseName maps a series name to the name listed in metrics.txt.
func baseName(name string, listed map[string]bool) string {
	if listed[name] {
		return name
	}
	for _, suf := range histogramSuffixes {
		if b, ok := strings.CutSuffix(name, suf); ok && listed[b] {
			return b
		}
	}
	return name
}

// ---------------------------------------------------------------- JSON patch

// patchOp is one RFC 6902 operation, as kustomize's patches: take them.
type patchOp struct {
	Op    string `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value,omitempty"`
	From  string `json:"from,omitempty"`
}

// applyPatch applies ops to doc (decoded JSON: maps, slices, scalars) and
// returns the new document. Supported: add, replace, remove, test.
func applyPatch(doc any, ops []patchOp) (any, error) {
	for _, op := range ops {
		toks, err := pointer(op.Path)
		if err != nil {
			return nil, err
		}
		switch op.Op {
		case "add", "replace", "remove", "test":
		default:
			return nil, fmt.Errorf("patch op %q at %s: only add, replace, remove and test are supported here", op.Op, op.Path)
		}
		doc, err = patchAt(doc, toks, op)
		if err != nil {
			return nil, fmt.Errorf("patch %s %s: %w", op.Op, op.Path, err)
		}
	}
	return doc, nil
}

func pointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("JSON pointer %q must start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

func patchAt(node any, toks []string, op patchOp) (any, error) {
	if len(toks) == 0 {
		switch op.Op {
		case "add", "replace":
			return op.Value, nil
		case "test":
			if fmt.Sprint(node) != fmt.Sprint(op.Value) {
				return nil, fmt.Errorf("test failed: have %v, want %v", node, op.Value)
			}
			return node, nil
		}
		return nil, fmt.Errorf("cannot remove the whole document")
	}
	tok, last := toks[0], len(toks) == 1
	switch n := node.(type) {
	case map[string]any:
		child, ok := n[tok]
		if last {
			switch op.Op {
			case "add":
				n[tok] = op.Value
				return n, nil
			case "replace":
				if !ok {
					return nil, fmt.Errorf("no member %q to replace", tok)
				}
				n[tok] = op.Value
				return n, nil
			case "remove":
				if !ok {
					return nil, fmt.Errorf("no member %q to remove", tok)
				}
				delete(n, tok)
				return n, nil
			}
		}
		if !ok {
			return nil, fmt.Errorf("no member %q", tok)
		}
		v, err := patchAt(child, toks[1:], op)
		if err != nil {
			return nil, err
		}
		n[tok] = v
		return n, nil
	case []any:
		if last && op.Op == "add" && tok == "-" {
			return append(n, op.Value), nil
		}
		idx, err := strconv.Atoi(tok)
		if err != nil || idx < 0 || idx > len(n) || idx == len(n) && !(last && op.Op == "add") {
			return nil, fmt.Errorf("index %q out of range (length %d)", tok, len(n))
		}
		if last {
			switch op.Op {
			case "add":
				out := append([]any{}, n[:idx]...)
				out = append(out, op.Value)
				return append(out, n[idx:]...), nil
			case "replace":
				n[idx] = op.Value
				return n, nil
			case "remove":
				return append(n[:idx:idx], n[idx+1:]...), nil
			}
		}
		v, err := patchAt(n[idx], toks[1:], op)
		if err != nil {
			return nil, err
		}
		n[idx] = v
		return n, nil
	default:
		return nil, fmt.Errorf("cannot descend into %T at %q", node, tok)
	}
}

// ---------------------------------------------------------------- misc

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
