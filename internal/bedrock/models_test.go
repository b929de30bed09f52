package bedrock

import "testing"

func TestModelIDs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id       string
		base     string
		strict   bool
		burndown int
		price    Price
		priced   bool
	}{
		{DefaultModelID, ModelClaudeHaiku45, true, 5, Price{1, 5}, true},
		{"global.anthropic.claude-haiku-4-5-20251001-v1:0", ModelClaudeHaiku45, true, 5, Price{1, 5}, true},
		{"eu.anthropic.claude-haiku-4-5-20251001-v1:0", ModelClaudeHaiku45, true, 5, Price{1, 5}, true},
		{"arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-haiku-4-5-20251001-v1:0", ModelClaudeHaiku45, true, 5, Price{1, 5}, true},
		{"anthropic.claude-haiku-4-5-20251001-v2:0", "anthropic.claude-haiku-4-5-20251001-v2:0", true, 5, Price{1, 5}, true},
		{ModelClaude3Haiku, ModelClaude3Haiku, false, 1, Price{0.25, 1.25}, true},
		{"us.anthropic.claude-3-haiku-20240307-v1:0", ModelClaude3Haiku, false, 1, Price{0.25, 1.25}, true},
		{ModelClaude35Haiku, ModelClaude35Haiku, false, 1, Price{0.80, 4}, true},
		{"us.anthropic.claude-3-7-sonnet-20250219-v1:0", "anthropic.claude-3-7-sonnet-20250219-v1:0", false, 5, Price{}, false},
		{"us.anthropic.claude-sonnet-4-20250514-v1:0", "anthropic.claude-sonnet-4-20250514-v1:0", false, 5, Price{}, false},
		{"global.anthropic.claude-opus-4-6-v1", "anthropic.claude-opus-4-6-v1", true, 5, Price{}, false},
		{"amazon.nova-lite-v1:0", "amazon.nova-lite-v1:0", false, 1, Price{}, false},
	}
	for _, tt := range tests {
		if got := BaseModelID(tt.id); got != tt.base {
			t.Errorf("BaseModelID(%s) = %s, want %s", tt.id, got, tt.base)
		}
		if got := SupportsStrictTools(tt.id); got != tt.strict {
			t.Errorf("SupportsStrictTools(%s) = %v", tt.id, got)
		}
		if got := outputBurndown(tt.id); got != tt.burndown {
			t.Errorf("outputBurndown(%s) = %d, want %d", tt.id, got, tt.burndown)
		}
		p, ok := priceFor(DefaultPrices, tt.id)
		if ok != tt.priced || p != tt.price {
			t.Errorf("priceFor(%s) = %v, %v; want %v, %v", tt.id, p, ok, tt.price, tt.priced)
		}
	}
	if got := (Price{1, 5}).Cost(2_000_000, 100_000); got != 2.5 {
		t.Errorf("Cost = %v, want 2.5", got)
	}
}
