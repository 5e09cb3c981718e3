package source

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/athena"
	"github.com/stretchr/testify/require"
)

// fakeAthena speaks Athena's JSON 1.1 protocol (POST /, X-Amz-Target:
// AmazonAthena.<Op>) for the three operations the reader uses.
type fakeAthena struct {
	mu sync.Mutex
	// states are returned by successive GetQueryExecution calls; the last
	// one repeats.
	states   []string
	reason   string
	columns  []string
	rows     [][]*string // data rows, without the header
	pageSize int         // rows per page the fake returns, at most MaxResults

	started  []map[string]any // StartQueryExecution bodies
	byToken  map[string]string
	polls    int
	pages    int
	failPage int // 1-based page that returns a server error; 0 none

	// output, when set, is the result prefix (s3://bucket/path/): the
	// execution reports <output><id>.csv as its OutputLocation, as Athena
	// does. encryption is the workgroup's EncryptionOption (SSE_S3,
	// SSE_KMS, CSE_KMS), if any.
	output     string
	encryption string
}

func (f *fakeAthena) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	reply := func(v any) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(status int, typ, msg string) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"__type": typ, "Message": msg})
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/x-amz-json-1.1" {
		fail(400, "InvalidRequestException", "content type "+ct)
		return
	}
	switch op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "AmazonAthena."); op {
	case "StartQueryExecution":
		f.started = append(f.started, body)
		tok, _ := body["ClientRequestToken"].(string)
		if f.byToken == nil {
			f.byToken = map[string]string{}
		}
		id, ok := f.byToken[tok]
		if !ok {
			id = fmt.Sprintf("qe-%d", len(f.byToken)+1)
			f.byToken[tok] = id
		}
		reply(map[string]any{"QueryExecutionId": id})
	case "GetQueryExecution":
		st := f.states[min(f.polls, len(f.states)-1)]
		f.polls++
		status := map[string]any{"State": st}
		if st == "FAILED" || st == "CANCELLED" {
			status["StateChangeReason"] = f.reason
		}
		qe := map[string]any{"QueryExecutionId": body["QueryExecutionId"], "Status": status}
		if f.output != "" {
			rc := map[string]any{"OutputLocation": f.output + body["QueryExecutionId"].(string) + ".csv"}
			if f.encryption != "" {
				rc["EncryptionConfiguration"] = map[string]any{"EncryptionOption": f.encryption}
			}
			qe["ResultConfiguration"] = rc
		}
		reply(map[string]any{"QueryExecution": qe})
	case "GetQueryResults":
		f.pages++
		if f.pages == f.failPage {
			fail(400, "InvalidRequestException", "result expired")
			return
		}
		max := int(body["MaxResults"].(float64))
		size := min(max, f.pageSize)
		start := 0
		if tok, ok := body["NextToken"].(string); ok {
			start, _ = strconv.Atoi(tok)
		}
		// Row 0 of the whole result is the header, as in Athena.
		all := len(f.rows) + 1
		end := min(start+size, all)
		var rows []any
		for i := start; i < end; i++ {
			var data []any
			if i == 0 {
				for _, c := range f.columns {
					data = append(data, map[string]any{"VarCharValue": c})
				}
			} else {
				for _, v := range f.rows[i-1] {
					if v == nil {
						data = append(data, map[string]any{})
					} else {
						data = append(data, map[string]any{"VarCharValue": *v})
					}
				}
			}
			rows = append(rows, map[string]any{"Data": data})
		}
		var cols []any
		for _, c := range f.columns {
			cols = append(cols, map[string]any{"Name": c, "Type": "varchar"})
		}
		out := map[string]any{"ResultSet": map[string]any{"ResultSetMetadata": map[string]any{"ColumnInfo": cols}, "Rows": rows}, "UpdateCount": 0}
		if end < all {
			out["NextToken"] = strconv.Itoa(end)
		}
		reply(out)
	default:
		fail(400, "UnknownOperationException", op)
	}
}

func (f *fakeAthena) client(t *testing.T) *athena.Client {
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(srv.Close)
	return athena.New(athena.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(srv.URL),
		Credentials:  aws.AnonymousCredentials{},
	})
}

// instant records the backoff delays and does not wait.
type instant struct{ delays []time.Duration }

func (i *instant) after(d time.Duration) <-chan time.Time {
	i.delays = append(i.delays, d)
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

func users(n int) [][]*string {
	rows := make([][]*string, n)
	for i := range rows {
		var plan *string
		if i%2 == 0 {
			plan = aws.String("pro")
		}
		rows[i] = []*string{aws.String(fmt.Sprintf("u%d@example.com", i)), aws.String(fmt.Sprintf("u%d", i)), plan}
	}
	return rows
}

func TestAthenaPagesThroughResults(t *testing.T) {
	f := &fakeAthena{
		states:   []string{"QUEUED", "RUNNING", "RUNNING", "RUNNING", "SUCCEEDED"},
		columns:  []string{"email", "user_id", "plan"},
		rows:     users(2500),
		pageSize: 1000,
	}
	clock := &instant{}
	cfg := AthenaConfig{
		Campaign: "2026-11", Query: "SELECT email, user_id, plan FROM users", Database: "crm",
		Workgroup: "mail", OutputLocation: "s3://bucket/athena/",
		Client: f.client(t), PollInitial: 100 * time.Millisecond, PollMax: 250 * time.Millisecond, After: clock.after,
	}
	r, err := NewAthena(context.Background(), cfg)
	require.NoError(t, err)
	rows := readAll(t, r)
	require.Len(t, rows, 2500)
	for i, row := range rows {
		require.NoError(t, row.Err)
		require.Equal(t, i+1, row.Num)
		require.Equal(t, fmt.Sprintf("u%d", i), row.UserID)
		require.Equal(t, fmt.Sprintf("u%d@example.com", i), row.Email)
		if i%2 == 0 {
			require.JSONEq(t, `{"plan":"pro"}`, string(row.Data))
		} else {
			require.JSONEq(t, `{}`, string(row.Data), "NULL columns are left out")
		}
	}
	require.Equal(t, 3, f.pages, "2501 result rows in pages of 1000")
	require.Equal(t, []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond}, clock.delays)

	require.Len(t, f.started, 1)
	body := f.started[0]
	require.Equal(t, cfg.Query, body["QueryString"])
	require.Equal(t, "mail", body["WorkGroup"])
	require.Equal(t, map[string]any{"Database": "crm"}, body["QueryExecutionContext"])
	require.Equal(t, map[string]any{"OutputLocation": "s3://bucket/athena/"}, body["ResultConfiguration"])
	tok := body["ClientRequestToken"].(string)
	require.Equal(t, RequestToken("2026-11", "crm", cfg.Query), tok)
	require.Len(t, tok, 64)
	require.Equal(t, "qe-1", r.(*athenaReader).QueryExecutionID())

	// A rerun of the same campaign and query sends the same token, so
	// Athena returns the same execution instead of scanning again.
	f.polls = 0
	r2, err := NewAthena(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, "qe-1", r2.(*athenaReader).QueryExecutionID())
	require.Equal(t, tok, f.started[1]["ClientRequestToken"])
}

func TestAthenaRequestToken(t *testing.T) {
	a := RequestToken("2026-11", "crm", "SELECT 1")
	require.Len(t, a, 64, "Athena wants 32 to 128 characters")
	require.Equal(t, a, RequestToken("2026-11", "crm", "SELECT 1"))
	require.NotEqual(t, a, RequestToken("2026-12", "crm", "SELECT 1"))
	require.NotEqual(t, a, RequestToken("2026-11", "crm", "SELECT 1 -- again"))
	require.NotEqual(t, a, RequestToken("2026-11", "other", "SELECT 1"))
	require.NotEqual(t, RequestToken("a", "bc", "q"), RequestToken("ab", "c", "q"), "fields are delimited")
	require.Len(t, RequestToken("", "", ""), 64)
}

func TestAthenaFailures(t *testing.T) {
	tests := []struct {
		name  string
		fake  *fakeAthena
		query string
		is    error
		msg   string
		read  string // error from Next instead of NewAthena
	}{
		{
			name: "failed query",
			fake: &fakeAthena{states: []string{"RUNNING", "FAILED"}, reason: "SYNTAX_ERROR: line 1:8: Column 'emial' cannot be resolved"},
			is:   ErrQueryFailed, msg: "is FAILED: SYNTAX_ERROR: line 1:8: Column 'emial' cannot be resolved",
		},
		{
			name: "cancelled query",
			fake: &fakeAthena{states: []string{"CANCELLED"}, reason: "Query cancelled by user"},
			is:   ErrQueryFailed, msg: "CANCELLED: Query cancelled by user",
		},
		{
			name: "missing column",
			fake: &fakeAthena{states: []string{"SUCCEEDED"}, columns: []string{"id", "email"}, pageSize: 10},
			is:   ErrMissingColumn, msg: `result of Athena query qe-1: missing required column "user_id"`,
		},
		{
			name: "no query", fake: &fakeAthena{states: []string{"SUCCEEDED"}}, query: "-",
			is: ErrBadSpec, msg: "--athena-query",
		},
		{
			name: "a later page fails",
			fake: &fakeAthena{states: []string{"SUCCEEDED"}, columns: []string{"user_id", "email"}, rows: users(30), pageSize: 10, failPage: 2},
			read: "result expired",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := "SELECT * FROM users"
			if tt.query == "-" {
				q = ""
			}
			clock := &instant{}
			r, err := NewAthena(context.Background(), AthenaConfig{Campaign: "c", Query: q, Client: tt.fake.client(t), After: clock.after})
			if tt.read != "" {
				require.NoError(t, err)
				for err == nil {
					_, err = r.Next(context.Background())
				}
				require.NotErrorIs(t, err, io.EOF)
				require.ErrorContains(t, err, tt.read)
				return
			}
			require.ErrorIs(t, err, tt.is)
			require.ErrorContains(t, err, tt.msg)
		})
	}
}

// TestAthenaDefaultChain reaches the fake through the SDK's default chain,
// as the producer does in production: AWS_ENDPOINT_URL_ATHENA.
func TestAthenaDefaultChain(t *testing.T) {
	f := &fakeAthena{states: []string{"SUCCEEDED"}, columns: []string{"user_id", "email"}, rows: users(3), pageSize: 1000}
	f.rows = [][]*string{{aws.String("1"), aws.String("a@example.com")}}
	srv := httptest.NewServer(http.HandlerFunc(f.serve))
	defer srv.Close()
	t.Setenv("AWS_ENDPOINT_URL_ATHENA", srv.URL)
	t.Setenv("AWS_REGION", "eu-west-1")
	t.Setenv("AWS_ACCESS_KEY_ID", "test")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "test")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", t.TempDir()+"/none")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", t.TempDir()+"/none")
	r, err := Open(context.Background(), "athena", AthenaConfig{Campaign: "c", Query: "SELECT 1", After: (&instant{}).after})
	require.NoError(t, err)
	rows := readAll(t, r)
	require.Len(t, rows, 1)
	require.Equal(t, "1", rows[0].UserID)
}

func TestAthenaWaitHonoursContext(t *testing.T) {
	f := &fakeAthena{states: []string{"RUNNING"}}
	ctx, cancel := context.WithCancel(context.Background())
	polls := 0
	after := func(time.Duration) <-chan time.Time {
		polls++
		cancel()
		return make(chan time.Time) // never fires: only the context ends the wait
	}
	_, err := NewAthena(ctx, AthenaConfig{Campaign: "c", Query: "q", Client: f.client(t), After: after})
	require.True(t, errors.Is(err, context.Canceled), "%v", err)
	require.Equal(t, 1, polls)
}
