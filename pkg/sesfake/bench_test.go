package sesfake

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
)

// BenchmarkSendEmailHTTP measures the fake alone: plain keep-alive HTTP
// posts of a SendEmail body like the SDK's.
func BenchmarkSendEmailHTTP(b *testing.B) {
	s := start(b, Config{})
	if err := s.CreateTemplate("welcome", "Hi {{name}}", "<p>{{name}}</p>", "Hello {{name}}"); err != nil {
		b.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 512}}
	url := s.URL() + "/v2/email/outbound-emails"
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			body := fmt.Sprintf(`{"Content":{"Template":{"Headers":[{"Name":"List-Unsubscribe","Value":"<https://example.com/u>"}],"TemplateData":"{\"name\":\"Ann\"}","TemplateName":"welcome"}},"Destination":{"ToAddresses":["u%d@example.org"]},"EmailTags":[{"Name":"campaign","Value":"c1"}],"FromEmailAddress":"news@example.com"}`, n.Add(1))
			resp, err := hc.Post(url, "application/json", bytes.NewBufferString(body))
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
}

// BenchmarkSendEmailSDK is the fake behind the real SDK and pkg/ses, as the
// sender uses it (the SDK's signing dominates).
func BenchmarkSendEmailSDK(b *testing.B) {
	s := start(b, Config{})
	if err := s.CreateTemplate("welcome", "Hi {{name}}", "<p>{{name}}</p>", "Hello {{name}}"); err != nil {
		b.Fatal(err)
	}
	c := client(b, s.URL())
	var n atomic.Int64
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Send(context.Background(), message(fmt.Sprintf("u%d@example.org", n.Add(1)))); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sends/s")
}

// BenchmarkSendBulkEmailSDK is the fake behind the real SDK and pkg/ses
// SendBulk, 50 entries a call (the batched sender's path).
func BenchmarkSendBulkEmailSDK(b *testing.B) {
	s := start(b, Config{})
	if err := s.CreateTemplate("welcome", "Hi {{name}}", "<p>{{name}}</p>", "Hello {{name}}"); err != nil {
		b.Fatal(err)
	}
	c := client(b, s.URL())
	var n atomic.Int64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			to := make([]string, 50)
			for i := range to {
				to[i] = fmt.Sprintf("u%d@example.org", n.Add(1))
			}
			res, err := c.SendBulk(context.Background(), bulk(to...))
			if err != nil || res[49].Err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(50*b.N)/b.Elapsed().Seconds(), "emails/s")
}
