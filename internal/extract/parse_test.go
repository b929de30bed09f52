package extract

import (
	"testing"
)

func TestParseLineFraming(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		speaker string
		text    string
		check   func(u unit) bool
	}{
		{"bracketed time", "[10:02] Alice: the build is green", "Alice", "the build is green", nil},
		{"bare time", "10:02 Alice: the build is green", "Alice", "the build is green", nil},
		{"time with seconds and am/pm", "[10:02:33 AM] Alice: ok", "Alice", "ok", nil},
		{"date-time", "2024-03-04 10:02:33 Alice: deploy started", "Alice", "deploy started", nil},
		{"iso date-time with dash", "2024-03-04T10:02:33Z - Alice: deploy started", "Alice", "deploy started", nil},
		{"bracketed date", "[Mar 4, 10:02] Alice: hi there", "Alice", "hi there", nil},
		{"time after the name", "Alice (10:02): on it", "Alice", "on it", nil},
		{"role in parentheses", "Agent (Luis): checking now", "Agent", "checking now", nil},
		{"irc", "<bob> can you look?", "bob", "can you look?", nil},
		{"bold name", "**Alice:** shipped it", "Alice", "shipped it", nil},
		{"bullet and speaker", "- Alice: owns the rollout", "Alice", "owns the rollout", func(u unit) bool { return u.bullet }},
		{"open checkbox", "- [ ] Bob: update the runbook", "Bob", "update the runbook", func(u unit) bool { return u.open && !u.checked }},
		{"checked checkbox", "* [x] create the channel", "", "create the channel", func(u unit) bool { return u.checked && !u.open }},
		{"numbered", "2. ship the fix", "", "ship the fix", func(u unit) bool { return u.bullet }},
		{"decimal is not a bullet", "3.5 seconds is too slow", "", "3.5 seconds is too slow", func(u unit) bool { return !u.bullet }},
		{"quote marks", "> Alice: quoted", "Alice", "quoted", nil},
		{"markdown heading", "## Risks", "", "Risks", func(u unit) bool { return u.heading }},
		{"markdown link", "See [the runbook](https://example.com/rb) first", "", "See the runbook first", nil},
		{"todo label", "TODO: rotate the keys", "", "rotate the keys", func(u unit) bool { return u.marker }},
		{"action item label", "Action item: Bob to book a room", "", "Bob to book a room", func(u unit) bool { return u.marker }},
		{"ai label", "AI: Carol - schedule the retro", "", "Carol - schedule the retro", func(u unit) bool { return u.marker }},
		{"todo without colon", "TODO fix the flaky test", "", "fix the flaky test", func(u unit) bool { return u.marker }},
		{"todo with owner", "TODO(alice): fix the flaky test", "alice", "fix the flaky test", func(u unit) bool { return u.marker }},
		{"todo with owner, no colon", "TODO(bob) fix the flaky test", "bob", "fix the flaky test", func(u unit) bool { return u.marker }},
		{"meta label is not a speaker", "Decision: ship on Friday", "", "Decision: ship on Friday", func(u unit) bool { return u.labelEnd == len("Decision:") }},
		{"sentence with a colon is not a speaker", "The plan we agreed on: ship Friday", "", "The plan we agreed on: ship Friday", nil},
		{"url is not a speaker", "https://example.com/x is down", "", "https://example.com/x is down", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// A second speaker makes a one-off name believable, as in a chat.
			units := parse(tt.in + "\n\nZed: noted\nZed: thanks")
			if len(units) < 1 {
				t.Fatalf("parse(%q) gave no units", tt.in)
			}
			u := units[0]
			if u.speaker != tt.speaker || u.text != tt.text {
				t.Errorf("parse(%q) = speaker %q text %q; want %q, %q", tt.in, u.speaker, u.text, tt.speaker, tt.text)
			}
			if tt.check != nil && !tt.check(u) {
				t.Errorf("parse(%q) = %+v: framing not recognised", tt.in, u)
			}
		})
	}
}

func TestParseSpeakers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		speakers []string // speaker of each unit, in order
	}{
		{"a one-off label is not a speaker", "Target: June\nWe ship in June.", []string{"", ""}},
		{"a repeated name is", "Ana: hi\nAna: the build broke", []string{"Ana", "Ana"}},
		{"a role is, even once", "Customer: my invoices are missing", []string{"Customer"}},
		{"names listed elsewhere", "Attendees: Tom, Ines\n- [ ] Tom: audit gaps\n- [ ] Ines: draft design", []string{"", "Tom", "Ines"}},
		{"continuation lines keep the speaker", "Ana: first line\nsecond line\nBo: reply\nBo: more", []string{"Ana", "Ana", "Bo", "Bo"}},
		{"a name on its own heads a block", "Marco:\n- profiled the service\n- found the N+1\n\nDana:\n- migrated webhooks", []string{"Marco", "Marco", "Dana"}},
		{"a blank line ends the block", "Marco:\n- profiled it\n\nAll good here.", []string{"Marco", ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			units := parse(tt.in)
			var got []string
			for _, u := range units {
				got = append(got, u.speaker)
			}
			if len(got) != len(tt.speakers) {
				t.Fatalf("parse(%q) gave %d units %+v, want %d", tt.in, len(units), units, len(tt.speakers))
			}
			for i := range got {
				if got[i] != tt.speakers[i] {
					t.Errorf("unit %d (%q) speaker = %q, want %q", i, units[i].text, got[i], tt.speakers[i])
				}
			}
		})
	}
}

func TestParseSections(t *testing.T) {
	t.Parallel()
	in := "## Decisions\n- We will use Postgres.\n\n## Next steps\n- Bob: set up the database\n- write the migration\n\nThanks all.\n"
	units := parse(in)
	want := []struct {
		text              string
		section, decision bool
	}{
		{"Decisions", false, false},
		{"We will use Postgres.", false, true},
		{"Next steps", false, false},
		{"Bob: set up the database", true, false}, // a one-off name is not a speaker
		{"write the migration", true, false},
		{"Thanks all.", false, false},
	}
	if len(units) != len(want) {
		t.Fatalf("got %d units %+v, want %d", len(units), units, len(want))
	}
	for i, w := range want {
		u := units[i]
		if u.text != w.text || u.section != w.section || u.decision != w.decision {
			t.Errorf("unit %d = %q section=%v decision=%v; want %q %v %v", i, u.text, u.section, u.decision, w.text, w.section, w.decision)
		}
	}
}
