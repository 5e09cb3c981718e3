package source

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// S3API is the part of the S3 client the Athena reader uses; *s3.Client
// has it.
type S3API interface {
	GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

// parseS3URL splits s3://bucket/key.
func parseS3URL(u string) (bucket, key string, err error) {
	rest, ok := strings.CutPrefix(u, "s3://")
	bucket, key, _ = strings.Cut(rest, "/")
	if !ok || bucket == "" || key == "" {
		return "", "", fmt.Errorf("%q is not an s3://bucket/key location", u)
	}
	return bucket, key, nil
}

// s3Object streams one S3 object as an io.Reader, in order, without
// downloading it first.
//
// With parallel <= 1 it is one GET whose body is read as the caller reads;
// a connection that breaks mid-way is resumed with a ranged GET from the
// byte reached (If-Match the first ETag, so a changed object is an error,
// not a splice). With parallel > 1, up to parallel ranged GETs of chunk
// bytes each run ahead of the reader and their chunks are handed out in
// object order: memory is about (parallel+2) × chunk.
type s3Object struct {
	api         S3API
	bucket, key string
	etag        string
	size        int64
	chunk       int64
	parallel    int
	callTimeout time.Duration
	log         *slog.Logger

	ctx    context.Context // lives until close; not the caller's
	cancel context.CancelFunc
	read   atomic.Int64 // bytes handed to the reader

	// sequential
	body    io.ReadCloser
	off     int64
	resumes int

	// parallel
	queue chan chan chunkResult
	cur   []byte
}

type chunkResult struct {
	data []byte
	err  error
}

// maxResumes bounds the ranged GETs that continue a broken stream (or
// retry a chunk).
const maxResumes = 5

// openS3Object sends the first GET, so that a denied or missing object is
// reported here. The object outlives ctx (an open deadline): close ends it.
func openS3Object(ctx context.Context, api S3API, bucket, key string, parallel int, chunk int64, callTimeout time.Duration, log *slog.Logger) (*s3Object, error) {
	octx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	o := &s3Object{api: api, bucket: bucket, key: key, parallel: parallel, chunk: chunk, callTimeout: callTimeout, log: log, ctx: octx, cancel: cancel}
	stop := context.AfterFunc(ctx, cancel) // cancelled while opening: give up
	defer stop()
	if parallel <= 1 {
		out, err := api.GetObject(octx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		if err != nil {
			cancel()
			return nil, err
		}
		o.body, o.etag, o.size = out.Body, aws.ToString(out.ETag), aws.ToInt64(out.ContentLength)
		return o, nil
	}
	first, err := o.fetchChunk(0, chunk-1, true)
	if err != nil {
		cancel()
		return nil, err
	}
	o.cur = first
	o.queue = make(chan chan chunkResult, parallel)
	go o.schedule(int64(len(first)))
	return o, nil
}

// schedule starts the chunk GETs from off on, at most parallel at a time,
// queueing their results in object order.
func (o *s3Object) schedule(off int64) {
	defer close(o.queue)
	sem := make(chan struct{}, o.parallel)
	for start := off; start < o.size; start += o.chunk {
		fut := make(chan chunkResult, 1)
		select {
		case o.queue <- fut:
		case <-o.ctx.Done():
			return
		}
		select {
		case sem <- struct{}{}:
		case <-o.ctx.Done():
			return
		}
		end := min(start+o.chunk, o.size) - 1
		go func() {
			defer func() { <-sem }()
			data, err := o.fetchChunk(start, end, false)
			fut <- chunkResult{data: data, err: err}
		}()
	}
}

// fetchChunk reads bytes start..end (inclusive), retrying a broken read.
// The first chunk also learns the object's size and ETag.
func (o *s3Object) fetchChunk(start, end int64, first bool) ([]byte, error) {
	var lastErr error
	for attempt := 0; attempt <= maxResumes; attempt++ {
		if err := o.ctx.Err(); err != nil {
			return nil, err
		}
		cctx, cancel := context.WithTimeout(o.ctx, o.callTimeout)
		in := &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key), Range: aws.String(fmt.Sprintf("bytes=%d-%d", start, end))}
		if o.etag != "" {
			in.IfMatch = aws.String(o.etag)
		}
		out, err := o.api.GetObject(cctx, in)
		if err != nil {
			cancel()
			if first || !retryableRead(err) {
				return nil, err
			}
			lastErr = err
			continue
		}
		if first {
			o.etag = aws.ToString(out.ETag)
			o.size = sizeFromRange(aws.ToString(out.ContentRange), aws.ToInt64(out.ContentLength))
			end = min(end, o.size-1)
		}
		buf := make([]byte, end-start+1)
		_, err = io.ReadFull(out.Body, buf)
		out.Body.Close()
		cancel()
		if err == nil {
			return buf, nil
		}
		lastErr = err
		o.log.Warn("reading the Athena result from S3 broke off; reading that part again",
			"object", "s3://"+o.bucket+"/"+o.key, "from_byte", start, "attempt", attempt+1, "error", err)
	}
	return nil, fmt.Errorf("reading bytes %d-%d of s3://%s/%s: %w", start, end, o.bucket, o.key, lastErr)
}

// retryableRead is false for answers that another GET would only repeat.
func retryableRead(err error) bool {
	return !isDenied(err) && !errors.Is(err, context.Canceled) && !hasCode(err, "PreconditionFailed", "NoSuchKey", "NoSuchBucket")
}

// sizeFromRange reads the total of "bytes 0-99/1234".
func sizeFromRange(cr string, contentLength int64) int64 {
	if _, total, ok := strings.Cut(cr, "/"); ok {
		if n, err := strconv.ParseInt(total, 10, 64); err == nil {
			return n
		}
	}
	return contentLength
}

func (o *s3Object) Read(p []byte) (int, error) {
	if o.queue != nil {
		return o.readParallel(p)
	}
	for {
		if o.body == nil {
			if o.off >= o.size {
				return 0, io.EOF
			}
			if err := o.resume(); err != nil {
				return 0, err
			}
		}
		n, err := o.readBody(p)
		o.off += int64(n)
		o.read.Add(int64(n))
		switch {
		case err == nil:
			return n, nil
		case errors.Is(err, io.EOF) && o.off >= o.size:
			o.body.Close()
			o.body = nil
			return n, io.EOF
		}
		// The stream broke (or ended early): continue from o.off.
		o.body.Close()
		o.body = nil
		if o.ctx.Err() != nil {
			return n, o.ctx.Err()
		}
		o.resumes++
		if o.resumes > maxResumes {
			return n, fmt.Errorf("reading s3://%s/%s at byte %d of %d, after %d resumed GETs: %w", o.bucket, o.key, o.off, o.size, maxResumes, err)
		}
		o.log.Warn("reading the Athena result from S3 broke off; continuing with a ranged GET",
			"object", "s3://"+o.bucket+"/"+o.key, "at_byte", o.off, "of", o.size, "error", err)
		if n > 0 {
			return n, nil
		}
	}
}

// readBody reads the open body, closing it (which ends the Read with an
// error, so the stream is resumed) when no byte comes for callTimeout: a
// connection that stalls without breaking would otherwise hang the run.
func (o *s3Object) readBody(p []byte) (int, error) {
	body := o.body
	t := time.AfterFunc(o.callTimeout, func() { body.Close() })
	n, err := body.Read(p)
	if !t.Stop() {
		return n, fmt.Errorf("no data for %s: %w", o.callTimeout, errStalled)
	}
	return n, err
}

// errStalled is the cause of a read that got no data in time.
var errStalled = errors.New("the S3 connection stalled")

// resume opens a ranged GET from o.off to the end.
func (o *s3Object) resume() error {
	in := &s3.GetObjectInput{Bucket: aws.String(o.bucket), Key: aws.String(o.key), Range: aws.String(fmt.Sprintf("bytes=%d-", o.off))}
	if o.etag != "" {
		in.IfMatch = aws.String(o.etag)
	}
	out, err := o.api.GetObject(o.ctx, in)
	if err != nil {
		return fmt.Errorf("continuing s3://%s/%s at byte %d: %w", o.bucket, o.key, o.off, err)
	}
	o.body = out.Body
	return nil
}

func (o *s3Object) readParallel(p []byte) (int, error) {
	for len(o.cur) == 0 {
		o.cur = nil
		fut, ok := <-o.queue
		if !ok {
			if err := o.ctx.Err(); err != nil {
				return 0, err
			}
			return 0, io.EOF
		}
		r := <-fut
		if r.err != nil {
			return 0, r.err
		}
		o.cur = r.data
	}
	n := copy(p, o.cur)
	o.cur = o.cur[n:]
	o.read.Add(int64(n))
	return n, nil
}

// progress is bytes handed out of the object's size.
func (o *s3Object) progress() (done, total int64) { return o.read.Load(), o.size }

func (o *s3Object) close() {
	o.cancel()
	if o.body != nil {
		o.body.Close()
		o.body = nil
	}
	if o.queue != nil {
		for range o.queue { // let the scheduler see the cancel and end
		}
	}
}
