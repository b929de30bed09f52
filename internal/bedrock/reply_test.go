package bedrock

import (
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

func TestParseReplyRefusesWhatDoesNotFit(t *testing.T) {
	t.Parallel()
	ok := map[string]any{"summary": "S.", "action_items": []string{}, "keywords": []string{}}
	tests := []struct {
		name string
		out  *bedrockruntime.ConverseOutput
		want string // substring of the reason
	}{
		{"text only", output(types.StopReasonEndTurn, &types.ContentBlockMemberText{Value: "Here is a poem."}), "no toolUse block for record_analysis in the reply (stopReason end_turn)"},
		{"other tool", output(types.StopReasonToolUse, use("something_else", ok)), "no toolUse block"},
		{"cut off", output(types.StopReasonMaxTokens, use(analyzeTool, ok)), "cut off at maxTokens (4096)"},
		{"not an object", output(types.StopReasonToolUse, use(analyzeTool, []string{"a"})), "input is an array, not an object"},
		{"summary missing", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"action_items": []string{}, "keywords": []string{}})), "summary is missing"},
		{"summary null", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": nil, "action_items": []string{}, "keywords": []string{}})), "summary is missing"},
		{"summary number", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": 42, "action_items": []string{}, "keywords": []string{}})), "summary is a number, not a string"},
		{"summary blank", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": "  \n ", "action_items": []string{}, "keywords": []string{}})), "summary is blank"},
		{"items a string", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": "S.", "action_items": "call Bob", "keywords": []string{}})), "action_items is a string, not an array of strings"},
		{"items missing", output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": "S.", "keywords": []string{}})), "action_items is missing"},
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
			if f.Summary != "" || f.ActionItems != nil || f.Keywords != nil {
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
		"action_items": []string{
			"- Anna sends the draft by Friday.", "1. Anna sends the   draft by Friday", "  ", "* Ben books the room",
			"[ ] Chloé reviews", long,
		},
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

	f, err = parseReply(output(types.StopReasonToolUse, use(analyzeTool, map[string]any{"summary": long, "action_items": manyItems, "keywords": manyKws})), analyzeTool, true, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if n := utf8.RuneCountInString(f.Summary); n > MaxSummaryChars {
		t.Errorf("summary %d chars", n)
	}
	if len(f.ActionItems) != MaxActionItems || len(f.Keywords) != MaxKeywords {
		t.Errorf("%d items, %d keywords", len(f.ActionItems), len(f.Keywords))
	}

	// The combine tool needs only a summary.
	f, err = parseReply(output(types.StopReasonToolUse, use(combineTool, map[string]any{"summary": "All."})), combineTool, false, 4096)
	if err != nil || f.Summary != "All." {
		t.Errorf("combine reply: %+v, %v", f, err)
	}
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
