package bedrock

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"
)

func output(stop types.StopReason, blocks ...types.ContentBlock) *bedrockruntime.ConverseOutput {
	return &bedrockruntime.ConverseOutput{
		StopReason: stop,
		Output:     &types.ConverseOutputMemberMessage{Value: types.Message{Role: types.ConversationRoleAssistant, Content: blocks}},
	}
}

func use(name string, input any) types.ContentBlock {
	return &types.ContentBlockMemberToolUse{Value: types.ToolUseBlock{Name: aws.String(name), ToolUseId: aws.String("t1"), Input: document.NewLazyDocument(input)}}
}

// validReply is a complete record_analysis input: every field the schema
// requires, at every level.
func validReply() map[string]any {
	return map[string]any{
		"summary":      "S.",
		"action_items": []any{map[string]any{"text": "Send the deck", "owner": "Anna", "due_text": "by Friday"}},
		"keywords":     []any{"deck"},
	}
}

// requiredPaths lists the paths of every field schema requires, nested
// ones as "action_items[0].owner", by reading the schema itself: a field
// made required later is covered without touching the tests.
func requiredPaths(schema map[string]any, prefix string) []string {
	var out []string
	props, _ := schema["properties"].(map[string]any)
	for _, name := range schema["required"].([]string) {
		out = append(out, prefix+name)
		p, _ := props[name].(map[string]any)
		if items, ok := p["items"].(map[string]any); ok && items["type"] == "object" {
			out = append(out, requiredPaths(items, prefix+name+"[0].")...)
		}
	}
	return out
}

// without returns a copy of v without the field at path (as requiredPaths
// names it), or with it set to null.
func without(v map[string]any, path string, null bool) map[string]any {
	b, _ := json.Marshal(v)
	var out map[string]any
	_ = json.Unmarshal(b, &out)
	obj := out
	parts := strings.Split(path, ".")
	for _, p := range parts[:len(parts)-1] {
		name, _, _ := strings.Cut(p, "[")
		obj = obj[name].([]any)[0].(map[string]any)
	}
	last := parts[len(parts)-1]
	if null {
		obj[last] = nil
	} else {
		delete(obj, last)
	}
	return out
}

// TestEveryRequiredFieldIsRequired takes each field the analysis schema
// requires out of an otherwise complete reply, at every level, and sees the
// reply refused, naming the field; likewise a null in place of any field
// but an item's owner and due_text, where null means none. The list of
// required fields is written out too, so dropping one from the schema
// fails here.
func TestEveryRequiredFieldIsRequired(t *testing.T) {
	t.Parallel()
	paths := requiredPaths(analyzeSchema, "")
	want := "summary action_items action_items[0].text action_items[0].owner action_items[0].due_text keywords"
	if strings.Join(paths, " ") != want {
		t.Fatalf("the analysis schema requires %q, want %q", paths, want)
	}
	if _, err := parseReply(output(types.StopReasonToolUse, use(analyzeTool, validReply())), analyzeTool, true, 4096); err != nil {
		t.Fatalf("the complete reply is refused: %v", err)
	}
	nullable := map[string]bool{"action_items[0].owner": true, "action_items[0].due_text": true}
	for _, path := range paths {
		for _, null := range []bool{false, true} {
			name := path + " missing"
			if null {
				name = path + " null"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				f, err := parseReply(output(types.StopReasonToolUse, use(analyzeTool, without(validReply(), path, null))), analyzeTool, true, 4096)
				if null && nullable[path] {
					if err != nil || len(f.Items) != 1 {
						t.Fatalf("null %s (none) refused: %v", path, err)
					}
					return
				}
				if err == nil || err.Error() != path+" is missing" {
					t.Fatalf("err = %v, want %q", err, path+" is missing")
				}
				if f.Summary != "" || f.ActionItems != nil || f.Items != nil || f.Keywords != nil {
					t.Errorf("a refused reply still returned fields %+v", f)
				}
			})
		}
	}
	// The combine tool requires its summary.
	for _, path := range requiredPaths(combineSchema, "") {
		if _, err := parseReply(output(types.StopReasonToolUse, use(combineTool, map[string]any{})), combineTool, false, 4096); err == nil || err.Error() != path+" is missing" {
			t.Errorf("combine reply without %s: err = %v", path, err)
		}
	}
}

func TestParseReplyRefusesWhatDoesNotFit(t *testing.T) {
	t.Parallel()
	ok := map[string]any{"summary": "S.", "action_items": []string{}, "keywords": []string{}}
	item := func(it any) map[string]any {
		return map[string]any{"summary": "S.", "action_items": []any{it}, "keywords": []string{}}
	}
	tests := []struct {
		name string
		out  *bedrockruntime.ConverseOutput
		want string // substring of the reason
	}{
		{"text only", output(types.StopReasonEndTurn, &types.ContentBlockMemberText{Value: "Here is a poem."}), "no toolUse block for record_analysis in the reply (stopReason end_turn)"},
		{"other tool", output(types.StopReasonToolUse, use("something_else", ok)), "no toolUse block"},
		{"cut off", output(types.StopReasonMaxTokens, use(analyzeTool, ok)), "cut off at maxTokens (4096)"},
		{"not an object", output(types.StopReasonToolUse, use(analyzeTool, []string{"a"})), "input is an array, not an object"},
		{"summary number", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": 42, "action_items": []string{}, "keywords": []string{}})), "summary is a number, not a string"},
		{"summary blank", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": "  \n ", "action_items": []string{}, "keywords": []string{}})), "summary is blank"},
		{"items a string", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": "S.", "action_items": "call Bob", "keywords": []string{}})), "action_items is a string, not an array of objects"},
		{"item a string", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": "S.", "action_items": []string{"call Bob"}, "keywords": []string{}})), "action_items[0] is a string, not an object"},
		{"item text a number", output(types.StopReasonToolUse, use(analyzeTool, item(map[string]any{"text": 7, "owner": "", "due_text": ""}))), "action_items[0].text is a number, not a string"},
		{"item owner a list", output(types.StopReasonToolUse, use(analyzeTool, item(map[string]any{"text": "t", "owner": []string{"Bo"}, "due_text": ""}))), "action_items[0].owner is an array, not a string"},
		{"item due a date object", output(types.StopReasonToolUse, use(analyzeTool, item(map[string]any{"text": "t", "owner": "", "due_text": map[string]any{"y": 2026}}))), "action_items[0].due_text is an object, not a string"},
		{"keywords a string", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": "S.", "action_items": []string{}, "keywords": "a, b"})), "keywords is a string, not an array of strings"},
		{"keyword an object", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": "S.", "action_items": []string{}, "keywords": []any{"a", map[string]any{}}})), "keywords[1] is an object, not a string"},
		{"no message", &bedrockruntime.ConverseOutput{StopReason: types.StopReasonEndTurn}, "carries no message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f, err := parseReply(tt.out, analyzeTool, true, 4096)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if f.Summary != "" || f.ActionItems != nil || f.Items != nil || f.Keywords != nil {
				t.Errorf("a refused reply still returned fields %+v", f)
			}
		})
	}
}

func TestParseReplyNormalises(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("word ", 1000)
	var manyItems, manyKws []string
	for i := range 30 {
		manyItems = append(manyItems, "Task number "+strings.Repeat("x", i))
		manyKws = append(manyKws, "kw"+strings.Repeat("y", i))
	}
	in := map[string]any{
		"summary": "  First   line.\r\n\n\n  Second\tline.  ",
		"action_items": items(
			"- Anna sends the draft by Friday.", "1. Anna sends the   draft by Friday", "  ", "* Ben books the room",
			"[ ] Chloé reviews", long,
		),
		"keywords": []string{"#Budget", "budget", " Release plan ", "“quoted”", "C#", "C++", ".NET", "", strings.Repeat("k", 100)},
		"extra":    "ignored",
	}
	f, err := parseReply(output(types.StopReasonToolUse, use(analyzeTool, in)), analyzeTool, true, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if f.Summary != "First line.\nSecond line." {
		t.Errorf("summary %q", f.Summary)
	}
	if len(f.ActionItems) != 4 || f.ActionItems[0] != "Anna sends the draft by Friday." || f.ActionItems[1] != "Ben books the room" || f.ActionItems[2] != "Chloé reviews" {
		t.Errorf("items %q", f.ActionItems)
	}
	if n := utf8.RuneCountInString(f.ActionItems[3]); n > MaxItemChars || !strings.HasSuffix(f.ActionItems[3], "…") {
		t.Errorf("long item not capped: %d chars", n)
	}
	wantKw := []string{"Budget", "Release plan", "quoted", "C#", "C++", ".NET", strings.Repeat("k", MaxKeywordChars-1) + "…"}
	if strings.Join(f.Keywords, "|") != strings.Join(wantKw, "|") {
		t.Errorf("keywords %q, want %q", f.Keywords, wantKw)
	}

	f, err = parseReply(output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": long, "action_items": items(manyItems...), "keywords": manyKws})), analyzeTool, true, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(f.Summary); n > MaxSummaryChars {
		t.Errorf("summary %d chars", n)
	}
	if len(f.ActionItems) != MaxActionItems || len(f.Items) != MaxActionItems || len(f.Keywords) != MaxKeywords {
		t.Errorf("%d items (%d structured), %d keywords", len(f.ActionItems), len(f.Items), len(f.Keywords))
	}

	// The combine tool needs only a summary.
	f, err = parseReply(output(types.StopReasonToolUse, use(combineTool, map[string]any{"summary": "All."})), combineTool, false, 4096)
	if err != nil || f.Summary != "All." {
		t.Errorf("combine reply: %+v, %v", f, err)
	}
}

// items is action items with only their text, as a reply sends them.
func items(texts ...string) []any {
	out := make([]any, len(texts))
	for i, s := range texts {
		out[i] = map[string]any{"text": s, "owner": "", "due_text": ""}
	}
	return out
}

func TestCapTextPrefersSentenceEnds(t *testing.T) {
	t.Parallel()
	s := strings.Repeat("This is one sentence. ", 10) // 220 chars
	got := capText(s, 100)
	if !strings.HasSuffix(got, "sentence.") || utf8.RuneCountInString(got) > 100 {
		t.Errorf("capText = %q", got)
	}
	if got := capText("short", 100); got != "short" {
		t.Errorf("capText(short) = %q", got)
	}
	if got := capText(strings.Repeat("é", 50), 10); utf8.RuneCountInString(got) != 10 || !utf8.ValidString(got) {
		t.Errorf("capText(é…) = %q", got)
	}
}
