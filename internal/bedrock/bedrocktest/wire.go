package bedrocktest

import (
	"encoding/json"
	"strings"
)

// The Converse wire shapes, as Bedrock Runtime's restJson1 protocol sends and
// receives them. They are decoded independently of the SDK's own types so a
// change in how the SDK serialises a request shows up here as a failed check
// rather than being hidden by sharing code with the client.

// ConverseRequest is the JSON body of POST /model/{modelId}/converse.
type ConverseRequest struct {
	Messages        []Message        `json:"messages"`
	System          []ContentBlock   `json:"system,omitempty"`
	InferenceConfig *InferenceConfig `json:"inferenceConfig,omitempty"`
	ToolConfig      *ToolConfig      `json:"toolConfig,omitempty"`
}

// Message is one turn of a Converse request or response.
type Message struct {
	Role    string         `json:"role"`
	Content []ContentBlock `json:"content"`
}

// ContentBlock is one element of a message's or the system prompt's content.
// Only the members the analyzer uses are modelled; others are kept raw so
// they can be reported.
type ContentBlock struct {
	Text    *string  `json:"text,omitempty"`
	ToolUse *ToolUse `json:"toolUse,omitempty"`
}

// ToolUse is the block in which a model calls a tool with a JSON input.
type ToolUse struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

// InferenceConfig is the request's base inference parameters.
type InferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

// ToolConfig lists the tools a model may call and which one it must call.
type ToolConfig struct {
	Tools      []Tool      `json:"tools"`
	ToolChoice *ToolChoice `json:"toolChoice,omitempty"`
}

// Tool is one entry of toolConfig.tools.
type Tool struct {
	ToolSpec *ToolSpec `json:"toolSpec,omitempty"`
}

// ToolSpec names a tool and gives the JSON schema of its input.
type ToolSpec struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	InputSchema struct {
		JSON json.RawMessage `json:"json"`
	} `json:"inputSchema"`
	Strict *bool `json:"strict,omitempty"`
}

// ToolChoice is the union {auto} | {any} | {tool: {name}}.
type ToolChoice struct {
	Auto *struct{}  `json:"auto,omitempty"`
	Any  *struct{}  `json:"any,omitempty"`
	Tool *NamedTool `json:"tool,omitempty"`
}

// NamedTool is the member of ToolChoice that forces one tool.
type NamedTool struct {
	Name string `json:"name"`
}

// converseResponse is the JSON body of a successful Converse answer.
type converseResponse struct {
	Output struct {
		Message Message `json:"message"`
	} `json:"output"`
	StopReason string `json:"stopReason"`
	Usage      struct {
		InputTokens  int `json:"inputTokens"`
		OutputTokens int `json:"outputTokens"`
		TotalTokens  int `json:"totalTokens"`
	} `json:"usage"`
	Metrics struct {
		LatencyMs int64 `json:"latencyMs"`
	} `json:"metrics"`
}

// SystemText is the system prompt's text blocks joined by newlines.
func (c ConverseRequest) SystemText() string {
	var parts []string
	for _, b := range c.System {
		if b.Text != nil {
			parts = append(parts, *b.Text)
		}
	}
	return strings.Join(parts, "\n")
}

// UserText is the text of every user message joined by newlines: what the
// model was asked to read.
func (c ConverseRequest) UserText() string {
	var parts []string
	for _, m := range c.Messages {
		if m.Role != "user" {
			continue
		}
		for _, b := range m.Content {
			if b.Text != nil {
				parts = append(parts, *b.Text)
			}
		}
	}
	return strings.Join(parts, "\n")
}

// ForcedTool is the name in toolChoice.tool, or "" when no tool is forced.
func (c ConverseRequest) ForcedTool() string {
	if c.ToolConfig == nil || c.ToolConfig.ToolChoice == nil || c.ToolConfig.ToolChoice.Tool == nil {
		return ""
	}
	return c.ToolConfig.ToolChoice.Tool.Name
}

// Tool returns the spec of the named tool, or nil.
func (c ConverseRequest) Tool(name string) *ToolSpec {
	if c.ToolConfig == nil {
		return nil
	}
	for _, t := range c.ToolConfig.Tools {
		if t.ToolSpec != nil && t.ToolSpec.Name == name {
			return t.ToolSpec
		}
	}
	return nil
}
