package s3vec_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/credentials"

	"recall/internal/recall"
	"recall/internal/s3vec"
	"recall/internal/s3vec/s3vectest"
)

func newStore(t *testing.T, srv *s3vectest.Server, bucket string) *s3vec.Store {
	t.Helper()
	c, err := s3vec.NewClient(context.Background(), s3vectest.Region, s3vec.ClientOptions{BaseEndpoint: srv.URL, Credentials: srv.Credentials()})
	if err != nil {
		t.Fatal(err)
	}
	return s3vec.New(c, bucket, s3vectest.IndexName)
}

// unit returns a unit vector of dims pointing mostly along axis i.
func unit(dims, i int, tilt float64) []float32 {
	v := make([]float32, dims)
	v[i] = float32(math.Sqrt(1 - tilt*tilt))
	v[(i+1)%dims] = float32(tilt)
	return v
}

func TestPutQueryDelete(t *testing.T) {
	t.Parallel()
	srv := s3vectest.NewServer(t, 8)
	s := newStore(t, srv, s3vectest.Bucket)
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	put := func(key, owner string, v []float32) {
		t.Helper()
		if err := s.Put(ctx, key, owner, v); err != nil {
			t.Fatalf("Put %s: %v", key, err)
		}
	}
	put("a1", "alice", unit(8, 0, 0))
	put("a2", "alice", unit(8, 0, 0.6))
	put("a3", "alice", unit(8, 3, 0))
	put("b1", "bob", unit(8, 0, 0)) // identical to a1, another owner
	if md := srv.Metadata("a1"); md[s3vec.MetaOwner] != "alice" {
		t.Fatalf("metadata %v: the owner must be stored as filterable metadata", md)
	}

	got, err := s.Query(ctx, "alice", unit(8, 0, 0), 10)
	if err != nil {
		t.Fatal(err)
	}
	if _, leaked := got["b1"]; leaked || len(got) != 3 {
		t.Fatalf("alice's query returned %v: want exactly her three vectors", got)
	}
	if math.Abs(got["a1"]-1) > 1e-5 || math.Abs(got["a2"]-0.8) > 1e-5 || math.Abs(got["a3"]) > 1e-5 {
		t.Fatalf("similarities %v, want a1 1, a2 0.8, a3 0", got)
	}
	if top, _ := s.Query(ctx, "alice", unit(8, 0, 0), 1); len(top) != 1 || top["a1"] == 0 {
		t.Fatalf("topK 1 gave %v", top)
	}
	put("a1", "alice", unit(8, 5, 0)) // replace
	if got, _ := s.Query(ctx, "alice", unit(8, 5, 0), 1); got["a1"] < 0.99 {
		t.Fatalf("Put did not replace a1: %v", got)
	}
	if err := s.Delete(ctx, "a1", "a2", "never-there"); err != nil {
		t.Fatal(err)
	}
	if keys := srv.Keys(); strings.Join(keys, ",") != "a3,b1" {
		t.Fatalf("keys after delete %v", keys)
	}
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		fail   string
		bucket string
		creds  bool
		code   string
		msg    string
		retry  bool
	}{
		{name: "throttled", fail: "TooManyRequestsException", code: recall.ETHROTTLED, msg: "throttling", retry: true},
		{name: "unavailable", fail: "ServiceUnavailableException", code: recall.EUNAVAILABLE, msg: "temporarily unavailable"},
		{name: "internal", fail: "InternalServerException", code: recall.EUNAVAILABLE, msg: "temporarily unavailable"},
		{name: "access denied names the permission", fail: "AccessDeniedException", code: recall.EPERMISSION, msg: "s3vectors:QueryVectors and s3vectors:GetVectors"},
		{name: "no such index", bucket: "missing-bucket", code: recall.EINVALID, msg: "check the vector bucket and index names"},
		{name: "bad credentials", creds: true, code: recall.EPERMISSION, msg: "rejected the credentials"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := s3vectest.NewServer(t, 4)
			bucket := s3vectest.Bucket
			if tt.bucket != "" {
				bucket = tt.bucket
			}
			var s *s3vec.Store
			if tt.creds {
				c, err := s3vec.NewClient(context.Background(), s3vectest.Region, s3vec.ClientOptions{BaseEndpoint: srv.URL,
					Credentials: credentials.NewStaticCredentialsProvider(s3vectest.AccessKeyID, "not-the-secret", "")})
				if err != nil {
					t.Fatal(err)
				}
				s = s3vec.New(c, bucket, s3vectest.IndexName)
			} else {
				s = newStore(t, srv, bucket)
			}
			if tt.fail != "" {
				srv.Fail(tt.fail, tt.fail, tt.fail) // the SDK retries some itself
			}
			_, err := s.Query(context.Background(), "alice", unit(4, 0, 0), 5)
			if recall.ErrorCode(err) != tt.code {
				t.Fatalf("error %v, want %s", err, tt.code)
			}
			if !strings.Contains(recall.ErrorMessage(err), tt.msg) {
				t.Errorf("message %q lacks %q", recall.ErrorMessage(err), tt.msg)
			}
			if (recall.RetryAfter(err) > 0) != tt.retry {
				t.Errorf("RetryAfter %v", recall.RetryAfter(err))
			}
			srv.TakeViolations()
		})
	}
}

func TestDimensionChecked(t *testing.T) {
	t.Parallel()
	srv := s3vectest.NewServer(t, 4)
	s := newStore(t, srv, s3vectest.Bucket)
	err := s.Put(context.Background(), "k", "alice", make([]float32, 5))
	if recall.ErrorCode(err) != recall.EINVALID || !strings.Contains(recall.ErrorMessage(err), "length 4") {
		t.Fatalf("Put of a wrong-sized vector: %v", err)
	}
	if v := srv.TakeViolations(); len(v) != 1 {
		t.Fatalf("violations %q", v)
	}
}
