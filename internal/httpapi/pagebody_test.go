package httpapi

import (
	"bytes"
	"testing"
	"time"

	"recall/internal/recall"
)

// TestPageBodyIsTheWholePageEncoded: the answer pageBody puts together from
// items encoded one by one is byte for byte marshal of the whole page, for
// an empty page, a last page and one with a cursor, with text that JSON
// must escape.
func TestPageBodyIsTheWholePageEncoded(t *testing.T) {
	at := time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC)
	conv := func(id, content string) *recall.Conversation {
		return &recall.Conversation{ID: id, Owner: "alice", Title: `a "quoted" <title> & more`, Content: content,
			PostType: "meeting", Priority: recall.PriorityDefault, Status: recall.StatusDone, Run: 1, CreatedAt: at, UpdatedAt: at,
			ActionItems: []string{"Alice: ship\u2028it"}}
	}
	convs := []*recall.Conversation{conv("01J00000000000000000000001", "line\nnext\t\u0001 日本語"), conv("01J00000000000000000000002", "plain")}
	for _, tc := range []struct {
		name  string
		convs []*recall.Conversation
		next  string
	}{
		{"empty", nil, ""},
		{"last page", convs, ""},
		{"with cursor", convs, "AbC-_x09"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			list := ConversationList{Items: []ListItem{}}
			search := SearchList{Items: []SearchItem{}}
			var listItems, searchItems [][]byte
			for _, c := range tc.convs {
				li, si := ListView(c), SearchItem{Conversation: View(c), Score: 0.5, Highlights: []string{"<mark>x</mark>"}}
				list.Items, search.Items = append(list.Items, li), append(search.Items, si)
				lb, _ := marshal(li)
				sb, _ := marshal(si)
				listItems, searchItems = append(listItems, lb), append(searchItems, sb)
			}
			if tc.next != "" {
				list.NextCursor, search.NextCursor = new(tc.next), new(tc.next)
			}
			for _, p := range []struct {
				page  any
				items [][]byte
			}{{list, listItems}, {search, searchItems}} {
				want, err := marshal(p.page)
				if err != nil {
					t.Fatal(err)
				}
				got, err := pageBody(p.items, tc.next)
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("pageBody = %s (%v)\nwant       %s", got, err, want)
				}
			}
		})
	}
}
