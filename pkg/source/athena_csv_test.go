package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
)

// rec is one parsed record: values, with "\x00NULL" standing for NULL.
type rec []string

const null = "\x00NULL"

func parseAll(t *testing.T, r io.Reader) ([]rec, []error) {
	t.Helper()
	p := newAthenaCSV(r)
	var out []rec
	var errs []error
	for i := 0; i < 1000; i++ {
		vals, nulls, err := p.read()
		if errors.Is(err, io.EOF) {
			return out, errs
		}
		if err != nil {
			require.ErrorIs(t, err, errCSVSyntax)
			errs = append(errs, err)
			out = append(out, nil)
			continue
		}
		r := make(rec, len(vals))
		for i, v := range vals {
			if nulls[i] {
				v = null
			}
			r[i] = v
		}
		out = append(out, r)
	}
	t.Fatal("no end of input after 1000 records")
	return nil, nil
}

func TestAthenaCSVParse(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want []rec
		errs int
	}{
		{"plain", "\"user_id\",\"email\"\n\"1\",\"a@x.com\"\n", []rec{{"user_id", "email"}, {"1", "a@x.com"}}, 0},
		{"no final newline", "\"a\",\"b\"\n\"1\",\"2\"", []rec{{"a", "b"}, {"1", "2"}}, 0},
		{"byte order mark", "\uFEFF\"user_id\",\"email\"\n", []rec{{"user_id", "email"}}, 0},
		{"comma inside", "\"a,b\",\"c\"\n", []rec{{"a,b", "c"}}, 0},
		{"doubled quotes", "\"say \"\"hi\"\"\",\"\"\"\"\n", []rec{{`say "hi"`, `"`}}, 0},
		{"LF inside", "\"line1\nline2\",\"x\"\n", []rec{{"line1\nline2", "x"}}, 0},
		{"CRLF inside is kept", "\"line1\r\nline2\",\"x\"\n", []rec{{"line1\r\nline2", "x"}}, 0},
		{"lone CR inside", "\"a\rb\",\"x\"\n", []rec{{"a\rb", "x"}}, 0},
		{"empty string vs NULL", "\"\",,\"x\",\n", []rec{{"", null, "x", null}}, 0},
		{"all NULL", ",,\n", []rec{{null, null, null}}, 0},
		{"NULL last, no final newline", "\"a\",", []rec{{"a", null}}, 0},
		{"CRLF row ends", "\"a\",\"b\"\r\n\"1\",\r\n", []rec{{"a", "b"}, {"1", null}}, 0},
		{"unquoted value", "1,\"x\",2.5\n", []rec{{"1", "x", "2.5"}}, 0},
		{"UTF-8", "\"Zoë\",\"名前\",\"🙂\"\n", []rec{{"Zoë", "名前", "🙂"}}, 0},
		{"text after closing quote", "\"a\"x,\"b\"\n\"1\",\"2\"\n", []rec{nil, {"1", "2"}}, 1},
		{"quote in unquoted value", "ab\"c,\"d\"\n\"1\",\"2\"\n", []rec{nil, {"1", "2"}}, 1},
		{"unterminated quote", "\"a\",\"b\n", []rec{nil}, 1},
		{"empty input", "", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(tt.in), iotest.OneByteReader(strings.NewReader(tt.in))} {
				got, errs := parseAll(t, r)
				require.Equal(t, tt.want, got)
				require.Len(t, errs, tt.errs)
			}
		})
	}
}

// A value longer than the read buffer is read whole.
func TestAthenaCSVLongValue(t *testing.T) {
	long := strings.Repeat("ab\"\"c\n", bufSize/3)
	in := "\"" + long + "\",\"x\"\n\"y\",\"z\"\n"
	got, errs := parseAll(t, strings.NewReader(in))
	require.Empty(t, errs)
	require.Len(t, got, 2)
	require.Equal(t, strings.ReplaceAll(long, `""`, `"`), got[0][0])
	require.Equal(t, rec{"y", "z"}, got[1])
}

func TestParseReadMode(t *testing.T) {
	for in, want := range map[string]ReadMode{"": ReadAuto, "auto": ReadAuto, "s3": ReadS3, "api": ReadAPI} {
		m, err := ParseReadMode(in)
		require.NoError(t, err)
		require.Equal(t, want, m)
	}
	_, err := ParseReadMode("S3")
	require.ErrorContains(t, err, "--athena-read must be s3, api or auto")
}

func TestParseS3URL(t *testing.T) {
	b, k, err := parseS3URL("s3://results/athena/q-1.csv")
	require.NoError(t, err)
	require.Equal(t, "results", b)
	require.Equal(t, "athena/q-1.csv", k)
	for _, bad := range []string{"", "s3://", "s3://bucket", "s3://bucket/", "https://bucket/key"} {
		_, _, err := parseS3URL(bad)
		require.Error(t, err, bad)
	}
}

// memS3 serves one object from memory (ranged GETs too), for benchmarks.
type memS3 struct{ body []byte }

func (m memS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	b := m.body
	out := &s3.GetObjectOutput{ETag: aws.String(`"e"`)}
	if r := aws.ToString(in.Range); r != "" {
		var start, end int64
		if _, err := fmt.Sscanf(r, "bytes=%d-%d", &start, &end); err != nil {
			end = int64(len(b)) - 1
		}
		end = min(end, int64(len(b))-1)
		out.ContentRange = aws.String(fmt.Sprintf("bytes %d-%d/%d", start, end, len(b)))
		b = b[start : end+1]
	}
	out.ContentLength = aws.Int64(int64(len(b)))
	out.Body = io.NopCloser(bytes.NewReader(b))
	return out, nil
}

// BenchmarkAthenaS3Rows is the reader's cost per row (GET, parse, row and
// template data), without the network.
func BenchmarkAthenaS3Rows(b *testing.B) {
	const n = 200_000
	var sb strings.Builder
	sb.WriteString("\"user_id\",\"email\",\"name\",\"kwh\"\n")
	for i := range n {
		fmt.Fprintf(&sb, "\"u%09d\",\"user%09d@bench.example.org\",\"Ann %d\",\"%d.5\"\n", i, i, i, 100+i%900)
	}
	body := []byte(sb.String())
	for _, parallel := range []int{1, 4} {
		b.Run(fmt.Sprintf("parallel=%d", parallel), func(b *testing.B) {
			b.SetBytes(int64(len(body)) / n)
			rows := 0
			for rows < b.N {
				o, err := openS3Object(context.Background(), memS3{body}, "b", "k", parallel, 1<<20, time.Minute, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				r := &athenaS3Reader{obj: o, csv: newAthenaCSV(o), cfg: &AthenaConfig{Log: slog.New(slog.DiscardHandler)}, started: time.Now()}
				hdr, _, _ := r.csv.read()
				if r.cols, err = newColumns(hdr); err != nil {
					b.Fatal(err)
				}
				for rows < b.N {
					_, err := r.Next(context.Background())
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					rows++
				}
				o.close()
			}
		})
	}
}
