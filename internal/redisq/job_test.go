package redisq

import (
	"encoding/json"
	"math"
	"testing"
	"time"

	"recall/internal/recall"
)

// jsonDecode is what decode must agree with.
func jsonDecode(p string) (recall.Job, error) {
	var j recall.Job
	err := json.Unmarshal([]byte(p), &j)
	return j, err
}

func sameJob(a, b recall.Job) bool {
	return a.ConversationID == b.ConversationID && a.Owner == b.Owner && a.Run == b.Run &&
		a.Priority == b.Priority && a.Attempt == b.Attempt && a.EnqueuedAt.Equal(b.EnqueuedAt) &&
		a.EnqueuedAt.Location().String() == b.EnqueuedAt.Location().String() && a.Receipt == b.Receipt
}

// TestDecode round-trips jobs through encode and decode, the fast path and
// the fallback alike, and checks which payloads take the fast path.
func TestDecode(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 11, 29, 10, 0, 1, 123456789, time.UTC)
	tests := []struct {
		name string
		job  recall.Job
		fast bool // encode's output takes the fast path
	}{
		{"plain", recall.Job{ConversationID: "01JDW7Z3Q8M1H5T1V4X6Y9B2C3", Owner: "alice", Run: 2, Priority: recall.PriorityHigh, Attempt: 3, EnqueuedAt: at}, true},
		{"zero time and counters", recall.Job{ConversationID: "c", Priority: recall.PriorityLow}, true},
		{"negative and large numbers", recall.Job{ConversationID: "c", Run: -7, Attempt: math.MaxInt, Priority: recall.PriorityDefault}, true},
		{"a time zone", recall.Job{ConversationID: "c", EnqueuedAt: at.In(time.FixedZone("", -5*3600))}, true},
		{"unicode", recall.Job{ConversationID: "c", Owner: "Chloé 田中 🙂", Priority: recall.PriorityHigh}, true},
		{"a quote", recall.Job{ConversationID: "c", Owner: `a"b`}, false},
		{"html characters", recall.Job{ConversationID: "c", Owner: "<a&b>"}, false},
		{"a control character", recall.Job{ConversationID: "c", Owner: "a\nb"}, false},
		{"invalid UTF-8", recall.Job{ConversationID: "c", Owner: "a\xffb"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := encode(tc.job)
			if err != nil {
				t.Fatal(err)
			}
			want, err := jsonDecode(p)
			if err != nil {
				t.Fatal(err)
			}
			got, err := decode(p)
			if err != nil || !sameJob(got, want) {
				t.Errorf("decode(%s) = %+v, %v; want %+v", p, got, err, want)
			}
			if _, fast := decodeFast(p); fast != tc.fast {
				t.Errorf("fast path taken: %v, want %v, for %s", fast, tc.fast, p)
			}
		})
	}
	// Payloads encode never writes go to encoding/json, errors included.
	for _, p := range []string{
		`{"owner":"o","conversation_id":"c","run":1,"priority":"high","attempt":1,"enqueued_at":"2026-11-29T10:00:00Z"}`,
		`{"conversation_id":"c","owner":"o","run":01,"priority":"high","attempt":1,"enqueued_at":"2026-11-29T10:00:00Z"}`,
		`{"conversation_id":"c","owner":"o","run":1,"priority":"high","attempt":1,"enqueued_at":"yesterday"}`,
		`{"conversation_id":"c","owner":"o","run":1,"priority":"high","attempt":1,"enqueued_at":"2026-11-29T10:00:00Z"} `,
		`{not json`,
		"{\"conversation_id\":\"c\",\"owner\":\"a\xffb\",\"run\":1,\"priority\":\"high\",\"attempt\":1,\"enqueued_at\":\"2026-11-29T10:00:00Z\"}",
		"{\"conversation_id\":\"c\",\"owner\":\"a\tb\",\"run\":1,\"priority\":\"high\",\"attempt\":1,\"enqueued_at\":\"2026-11-29T10:00:00Z\"}",
	} {
		want, werr := jsonDecode(p)
		got, err := decode(p)
		if (err == nil) != (werr == nil) || err == nil && !sameJob(got, want) {
			t.Errorf("decode(%s) = %+v, %v; encoding/json says %+v, %v", p, got, err, want, werr)
		}
	}
}

// FuzzDecode holds the fast path to encoding/json: whatever it accepts,
// encoding/json decodes to the same job.
func FuzzDecode(f *testing.F) {
	for _, j := range []recall.Job{
		{ConversationID: "01JDW7Z3Q8M1H5T1V4X6Y9B2C3", Owner: "alice", Run: 2, Priority: recall.PriorityHigh, Attempt: 3, EnqueuedAt: time.Now()},
		{ConversationID: "c", Owner: "Chloé", Run: -1, Priority: "urgent"},
	} {
		p, _ := encode(j)
		f.Add(p)
	}
	f.Add(`{"conversation_id":"c","owner":"o","run":1,"priority":"high","attempt":1,"enqueued_at":"2026-11-29T10:00:00+01:00"}`)
	f.Fuzz(func(t *testing.T, p string) {
		got, ok := decodeFast(p)
		if !ok {
			return
		}
		want, err := jsonDecode(p)
		if err != nil || !sameJob(got, want) {
			t.Errorf("fast path read %s as %+v; encoding/json: %+v, %v", p, got, want, err)
		}
	})
}
