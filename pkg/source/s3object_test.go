package source

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"
)

// scriptedS3 serves one object and breaks chosen GETs: call k (0-based)
// fails with fail[k], or its body breaks after breakAfter[k] bytes, or
// stalls after stallAfter[k] bytes until it is closed.
type scriptedS3 struct {
	body       []byte
	fail       map[int]error
	breakAfter map[int]int
	stallAfter map[int]int

	mu      sync.Mutex
	ranges  []string
	ifMatch []string
}

func (f *scriptedS3) GetObject(_ context.Context, in *s3.GetObjectInput, _ ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	f.mu.Lock()
	k := len(f.ranges)
	f.ranges = append(f.ranges, aws.ToString(in.Range))
	f.ifMatch = append(f.ifMatch, aws.ToString(in.IfMatch))
	f.mu.Unlock()
	if err := f.fail[k]; err != nil {
		return nil, err
	}
	b := f.body
	out := &s3.GetObjectOutput{ETag: aws.String(`"v1"`)}
	if r := aws.ToString(in.Range); r != "" {
		var start, end int64 = 0, int64(len(b)) - 1
		if strings.HasSuffix(r, "-") {
			fmt.Sscanf(r, "bytes=%d-", &start)
		} else {
			fmt.Sscanf(r, "bytes=%d-%d", &start, &end)
		}
		end = min(end, int64(len(b))-1)
		out.ContentRange = aws.String(fmt.Sprintf("bytes %d-%d/%d", start, end, len(b)))
		b = b[start : end+1]
	}
	out.ContentLength = aws.Int64(int64(len(b)))
	var body io.Reader = bytes.NewReader(b)
	var stall *stallReader
	if n, ok := f.breakAfter[k]; ok {
		body = io.MultiReader(bytes.NewReader(b[:min(n, len(b))]), errReader{errors.New("connection reset by peer")})
	}
	if n, ok := f.stallAfter[k]; ok {
		stall = &stallReader{closed: make(chan struct{})}
		body = io.MultiReader(bytes.NewReader(b[:min(n, len(b))]), stall)
	}
	out.Body = &fakeBody{Reader: body, stall: stall}
	return out, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

// stallReader blocks until the body is closed, like a silent connection.
type stallReader struct {
	closed chan struct{}
	once   sync.Once
}

func (s *stallReader) Read([]byte) (int, error) {
	<-s.closed
	return 0, errors.New("use of closed network connection")
}

type fakeBody struct {
	io.Reader
	stall *stallReader
}

func (b *fakeBody) Close() error {
	if b.stall != nil {
		b.stall.once.Do(func() { close(b.stall.closed) })
	}
	return nil
}

func object(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "\"u%d\",\"u%d@example.com\"\n", i, i)
	}
	return b.Bytes()[:n]
}

func openTest(t *testing.T, f *scriptedS3, parallel int, chunk int64, timeout time.Duration) *s3Object {
	t.Helper()
	o, err := openS3Object(context.Background(), f, "b", "k", parallel, chunk, timeout, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(o.close)
	return o
}

func TestS3ObjectResumesABrokenStream(t *testing.T) {
	body := object(100_000)
	f := &scriptedS3{body: body, breakAfter: map[int]int{0: 30_000, 1: 10}}
	o := openTest(t, f, 1, 0, time.Minute)
	got, err := io.ReadAll(o)
	require.NoError(t, err)
	require.Equal(t, body, got)
	require.Equal(t, []string{"", "bytes=30000-", "bytes=30010-"}, f.ranges)
	require.Equal(t, []string{"", `"v1"`, `"v1"`}, f.ifMatch, "a resumed GET must read the same version")
	done, total := o.progress()
	require.Equal(t, int64(len(body)), done)
	require.Equal(t, int64(len(body)), total)
}

func TestS3ObjectResumesAStalledStream(t *testing.T) {
	body := object(50_000)
	f := &scriptedS3{body: body, stallAfter: map[int]int{0: 1000}}
	o := openTest(t, f, 1, 0, 50*time.Millisecond)
	got, err := io.ReadAll(o)
	require.NoError(t, err)
	require.Equal(t, body, got)
	require.Equal(t, []string{"", "bytes=1000-"}, f.ranges)
}

func TestS3ObjectGivesUpAfterMaxResumes(t *testing.T) {
	f := &scriptedS3{body: object(10_000), breakAfter: map[int]int{}}
	for k := range maxResumes + 2 {
		f.breakAfter[k] = 1
	}
	o := openTest(t, f, 1, 0, time.Minute)
	_, err := io.ReadAll(o)
	require.ErrorContains(t, err, "after 5 resumed GETs")
	require.ErrorContains(t, err, "connection reset by peer")
	require.Len(t, f.ranges, maxResumes+1)
}

func TestS3ObjectParallelChunksInOrder(t *testing.T) {
	body := object(10_500)
	// GET 0 is the first chunk; a later one breaks mid-body and is read again.
	f := &scriptedS3{body: body, breakAfter: map[int]int{4: 100}}
	o := openTest(t, f, 3, 1000, time.Minute)
	got, err := io.ReadAll(o)
	require.NoError(t, err)
	require.Equal(t, body, got)
	require.Len(t, f.ranges, 12, "11 chunks and one read again")
	uniq := map[string]bool{}
	for _, r := range f.ranges {
		uniq[r] = true
	}
	var want []string
	for s := 0; s < len(body); s += 1000 {
		want = append(want, fmt.Sprintf("bytes=%d-%d", s, min(s+999, len(body)-1)))
	}
	var have []string
	for r := range uniq {
		have = append(have, r)
	}
	sort.Strings(want)
	sort.Strings(have)
	require.Equal(t, want, have)
	for i, m := range f.ifMatch[1:] {
		require.Equal(t, `"v1"`, m, "GET %d", i+1)
	}
}

func TestS3ObjectChangedObjectIsAnError(t *testing.T) {
	f := &scriptedS3{body: object(5000), fail: map[int]error{2: &smithy.GenericAPIError{Code: "PreconditionFailed", Message: "At least one of the pre-conditions you specified did not hold"}}}
	o := openTest(t, f, 2, 1000, time.Minute)
	_, err := io.ReadAll(o)
	require.ErrorContains(t, err, "PreconditionFailed")
}
