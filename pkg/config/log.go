package config

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"sort"
	"strings"
	"time"
)

// Logger builds the slog logger the flags ask for. In both formats a
// duration is written as a string ("1.5s", not 1500000000 in JSON) and a map
// as one readable string ("sendonce.jobs[0,1,2]"), never Go's map[...] syntax.
func (c *Common) Logger(w io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %w", c.LogLevel, err)
	}
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: ReplaceAttr}
	format := c.LogFormat
	if format == "auto" || format == "" {
		format = "json"
		if IsTerminal(w) {
			format = "text"
		}
	}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	default:
		return nil, fmt.Errorf("--log-format %q: want text, json or auto", c.LogFormat)
	}
}

// ReplaceAttr is the slog.HandlerOptions.ReplaceAttr of every logger the
// binaries build: durations become strings and maps one sorted string.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindDuration:
		a.Value = slog.StringValue(a.Value.Duration().String())
	case slog.KindAny:
		if v := a.Value.Any(); v != nil {
			if rv := reflect.ValueOf(v); rv.Kind() == reflect.Map {
				a.Value = slog.StringValue(FormatMap(rv))
			} else if d, ok := v.(time.Duration); ok {
				a.Value = slog.StringValue(d.String())
			}
		}
	}
	return a
}

// FormatMap writes a map as "key[v1,v2] key2[v3]" for slice values and
// "key=value" otherwise, keys sorted, entries separated by spaces.
func FormatMap(m reflect.Value) string {
	type entry struct{ k, v string }
	entries := make([]entry, 0, m.Len())
	it := m.MapRange()
	for it.Next() {
		k := fmt.Sprint(it.Key().Interface())
		v := it.Value()
		for v.Kind() == reflect.Interface || v.Kind() == reflect.Pointer {
			if v.IsNil() {
				break
			}
			v = v.Elem()
		}
		var s string
		if (v.Kind() == reflect.Slice || v.Kind() == reflect.Array) && v.Type().Elem().Kind() != reflect.Uint8 {
			parts := make([]string, v.Len())
			for i := range parts {
				parts[i] = fmt.Sprint(v.Index(i).Interface())
			}
			s = k + "[" + strings.Join(parts, ",") + "]"
		} else {
			s = k + "=" + fmt.Sprint(v.Interface())
		}
		entries = append(entries, entry{k, s})
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].k < entries[j].k })
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.v
	}
	return strings.Join(out, " ")
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
