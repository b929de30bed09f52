// Package bedrock is Recall's Analyzer on Amazon Bedrock: one Converse call
// per conversation that forces a tool whose JSON schema is the analysis
// (summary, action items with owner and deadline, keywords), validated and
// normalised before it is returned; deadlines are resolved by Recall, not
// the model. Around that call sit the pieces that make it cheap and safe to
// run at volume: a content-addressed cache scoped to the owner (an owner's
// identical conversations cost no tokens, and nobody learns what another
// posted), a limiter that paces calls under the account's requests- and
// tokens-per-minute quotas, splitting of conversations too long for one
// call, error classification into Recall's codes, and running usage and cost
// totals.
//
// Titan text embeddings for search on AWS (Embedder) live here too: all
// Bedrock Runtime code of the project is in this package; bedrocktest holds the
// fake server its tests (and end-to-end tests elsewhere) run against.
package bedrock

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/document"
	"github.com/aws/aws-sdk-go-v2/service/bedrockruntime/types"

	"recall/internal/duedate"
	"recall/internal/recall"
)

// Defaults for Options.
const (
	// DefaultMaxTokens bounds the reply. The largest analysis the limits
	// allow (2,000-char summary, 20 items of 500 chars, 10 keywords) is
	// about 3,500 tokens; 4,096 is also Claude 3 Haiku's ceiling. Bedrock
	// reserves input + maxTokens of the tokens-per-minute quota while a call
	// runs, so it is not set higher than needed.
	DefaultMaxTokens = 4096
	// DefaultInputBudgetTokens is the content one call may carry before the
	// conversation is split (by EstimateTokens, which overestimates). Recall's
	// 100,000-character limit fits in one call for most text.
	DefaultInputBudgetTokens = 40_000
	// MinInputBudgetTokens keeps a misconfigured budget from splitting a
	// conversation into thousands of calls.
	MinInputBudgetTokens = 64
	// DefaultMaxParts refuses a conversation that would need more parts.
	DefaultMaxParts = 32
	// DefaultCacheEntries sizes the default in-memory cache.
	DefaultCacheEntries = 1024
	// DefaultCacheTTL is how long a cached analysis is reused.
	DefaultCacheTTL = 7 * 24 * time.Hour
	// DefaultPartCacheTTL is how long the result of one part of a split
	// conversation is kept for the retries of its run: longer than any run
	// lasts (5 attempts with backoff capped at minutes, throttles waited
	// out in the queue, a model whose access is pending for hours), shorter
	// than DefaultCacheTTL, since only the run needs it.
	DefaultPartCacheTTL = 24 * time.Hour
)

// Options configures an Analyzer. Every field has a working default.
type Options struct {
	// ModelID is a Bedrock model ID, inference profile ID or ARN
	// (BEDROCK_MODEL_ID). Default DefaultModelID.
	ModelID string
	// Region names the region in messages; default the client's region,
	// else DefaultRegion. (The client decides where requests go.)
	Region string
	// MaxTokens bounds each reply (DefaultMaxTokens).
	MaxTokens int
	// InputBudgetTokens is the most content one call carries, by
	// EstimateTokens (DefaultInputBudgetTokens, at least MinInputBudgetTokens).
	InputBudgetTokens int
	// MaxParts is the most parts a long conversation may be split into
	// (DefaultMaxParts); beyond it Analyze fails with ETOOLARGE.
	MaxParts int
	// Cache stores analyses by content; nil means an in-memory LRU of
	// DefaultCacheEntries. NewMemoryCache(0) disables caching.
	Cache Cache
	// CacheTTL is how long a cached analysis is reused (DefaultCacheTTL).
	CacheTTL time.Duration
	// Dates says how due dates are read: the location whose days the
	// conversation's creation time falls on (RECALL_TIMEZONE; nil is UTC)
	// and the order of numeric dates. The model returns each item's
	// deadline as written ("next Friday"); duedate resolves it.
	Dates duedate.Options
	// PartCacheTTL is how long each part's result of a split conversation
	// is kept in Cache for the retries of its run (DefaultPartCacheTTL, and
	// never longer than CacheTTL).
	PartCacheTTL time.Duration
	// Limiter paces calls; nil means none (NewLimiter with no quota: every
	// call goes at once, and a throttled job is retried by the queue).
	Limiter Limiter
	// Prices is the cost table by model ID (DefaultPrices).
	Prices map[string]Price
	// Strict asks for strict tool use (structured outputs); nil decides by
	// model with SupportsStrictTools.
	Strict *bool
	// Logger receives one debug record per model call (never content);
	// nil discards.
	Logger *slog.Logger
	// Usage, if set, receives every change to the running totals, so they
	// can be kept across processes (recall usage); nil keeps them in this
	// process only.
	Usage UsageRecorder
}

// Analyzer is a recall.Analyzer backed by Bedrock's Converse API. It is safe
// for concurrent use by many workers.
type Analyzer struct {
	client   *bedrockruntime.Client
	model    string
	region   string
	maxTok   int
	budget   int
	maxParts int
	cache    Cache
	cacheTTL time.Duration
	partTTL  time.Duration
	dates    duedate.Options
	limiter  Limiter
	prices   map[string]Price
	strict   bool
	burndown int
	log      *slog.Logger
	usage    UsageRecorder

	analyzeCfg *types.ToolConfiguration
	combineCfg *types.ToolConfiguration
	// overhead is the estimated tokens of everything but the user message:
	// system prompt and tool schema, per tool.
	analyzeOverhead, combineOverhead int

	mu      sync.Mutex
	started time.Time
	byModel map[string]*ModelTotals
	lastErr *recall.Error // last permanent error about the configuration

	// noStrict is set once Bedrock refuses strict tool use for this model
	// or region; every later call is sent without it.
	noStrict atomic.Bool
}

var _ recall.Analyzer = (*Analyzer)(nil)

// New returns an Analyzer calling Bedrock through client, which should come
// from NewClient (or carry the same retryer) so SDK and queue retries do not
// multiply.
func New(client *bedrockruntime.Client, o Options) *Analyzer {
	if o.ModelID == "" {
		o.ModelID = DefaultModelID
	}
	if o.Region == "" && client != nil {
		o.Region = client.Options().Region
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = DefaultMaxTokens
	}
	if o.InputBudgetTokens <= 0 {
		o.InputBudgetTokens = DefaultInputBudgetTokens
	}
	o.InputBudgetTokens = max(o.InputBudgetTokens, MinInputBudgetTokens)
	if o.MaxParts <= 0 {
		o.MaxParts = DefaultMaxParts
	}
	if o.Cache == nil {
		o.Cache = NewMemoryCache(DefaultCacheEntries)
	}
	if o.CacheTTL <= 0 {
		o.CacheTTL = DefaultCacheTTL
	}
	if o.PartCacheTTL <= 0 {
		o.PartCacheTTL = DefaultPartCacheTTL
	}
	o.PartCacheTTL = min(o.PartCacheTTL, o.CacheTTL)
	if o.Limiter == nil {
		o.Limiter = NewLimiter(LimiterOptions{})
	}
	if o.Prices == nil {
		o.Prices = DefaultPrices
	}
	strict := SupportsStrictTools(o.ModelID)
	if o.Strict != nil {
		strict = *o.Strict
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	a := &Analyzer{
		client: client, model: o.ModelID, region: o.Region, maxTok: o.MaxTokens,
		budget: o.InputBudgetTokens, maxParts: o.MaxParts, cache: o.Cache, cacheTTL: o.CacheTTL, partTTL: o.PartCacheTTL, dates: o.Dates,
		limiter: o.Limiter, prices: o.Prices, strict: strict, burndown: outputBurndown(o.ModelID),
		log: o.Logger, usage: o.Usage, started: time.Now().UTC(), byModel: map[string]*ModelTotals{},
	}
	a.analyzeCfg = toolConfig(analyzeTool, analyzeToolDescription, analyzeSchema, strict)
	a.combineCfg = toolConfig(combineTool, combineToolDescription, combineSchema, strict)
	a.analyzeOverhead = PromptOverheadTokens(analyzeSystem, analyzeTool, analyzeToolDescription, analyzeSchema)
	a.combineOverhead = PromptOverheadTokens(combineSystem, combineTool, combineToolDescription, combineSchema)
	return a
}

// Model is the model ID the analyzer calls.
func (a *Analyzer) Model() string { return a.model }

// PromptOverheadTokens estimates what a call costs besides the conversation:
// the system prompt and the tool's name, description and schema as sent, by
// EstimateTokens. (The model adds its own hidden tool-use prompt on top.)
func PromptOverheadTokens(system, tool, description string, schema map[string]any) int {
	b, _ := json.Marshal(schema)
	return EstimateTokens(system) + EstimateTokens(tool) + EstimateTokens(description) + EstimateTokens(string(b))
}

func toolConfig(name, description string, schema map[string]any, strict bool) *types.ToolConfiguration {
	spec := types.ToolSpecification{
		Name:        aws.String(name),
		Description: aws.String(description),
		InputSchema: &types.ToolInputSchemaMemberJson{Value: document.NewLazyDocument(schema)},
	}
	if strict {
		spec.Strict = aws.Bool(true)
	}
	return &types.ToolConfiguration{
		Tools:      []types.Tool{&types.ToolMemberToolSpec{Value: spec}},
		ToolChoice: &types.ToolChoiceMemberTool{Value: types.SpecificToolChoice{Name: aws.String(name)}},
	}
}

// sendsStrict reports whether a tool of cfg asks for strict tool use.
func sendsStrict(cfg *types.ToolConfiguration) bool {
	for _, t := range cfg.Tools {
		if spec, ok := t.(*types.ToolMemberToolSpec); ok && aws.ToBool(spec.Value.Strict) {
			return true
		}
	}
	return false
}

// withoutStrict returns a copy of cfg whose tools do not ask for strict
// tool use.
func withoutStrict(cfg *types.ToolConfiguration) *types.ToolConfiguration {
	out := *cfg
	out.Tools = make([]types.Tool, len(cfg.Tools))
	for i, t := range cfg.Tools {
		if spec, ok := t.(*types.ToolMemberToolSpec); ok {
			loose := *spec
			loose.Value.Strict = nil
			t = &loose
		}
		out.Tools[i] = t
	}
	return &out
}

// Analyze implements recall.Analyzer. An identical conversation of the same
// owner seen before is answered from the cache (no call, zero usage,
// Cached). Otherwise the content is analysed in
// PlanCalls(EstimateTokens(content), budget) calls: one for a conversation
// within the budget; for a longer one, one per part plus one that combines
// the part summaries, with action items and keywords merged and
// deduplicated. Action items come back as strings (ActionItems) and
// structured (Items), their due phrases resolved against in.CreatedAt
// (resolveItems), which is why the cache key holds that day. Each part's
// result is cached for the run (PartCacheTTL), so when a later call of a
// split conversation fails (a throttle, say) the retry sends only the parts
// not yet answered: a part is billed once. The analysis's Usage and Calls
// count every call it took, a part answered by an earlier attempt included.
//
// Errors: ETHROTTLED (Bedrock or our own pacing says wait), EUNAVAILABLE
// (Bedrock down, timed out, or replied outside the schema; retryable),
// EINVALID and EPERMISSION (permanent; the message says what to fix),
// ETOOLARGE (more parts than MaxParts).
func (a *Analyzer) Analyze(ctx context.Context, in recall.AnalysisInput) (recall.Analysis, error) {
	if a.client == nil {
		return recall.Analysis{}, recall.Errorf(recall.EINTERNAL, "bedrock analyzer has no client")
	}
	norm, ci := a.cacheInput(in)
	content := ci.Content
	if content == "" {
		return recall.Analysis{}, recall.Errorf(recall.EINVALID, "the conversation has no content to analyse")
	}
	key := CacheKey(ci)
	if hit, ok := a.cached(ctx, key); ok {
		return hit, nil
	}

	parts := splitContent(content, a.budget)
	if len(parts) > a.maxParts {
		return recall.Analysis{}, recall.Errorf(recall.ETOOLARGE, "the conversation needs %d parts of %d tokens; the limit is %d parts", len(parts), a.budget, a.maxParts)
	}
	res := recall.Analysis{Model: a.model}
	summaries := make([]string, 0, len(parts))
	var lines, keywords [][]string
	var items [][]recall.ActionItem
	for i, p := range parts {
		r, err := a.part(ctx, norm, ci, p, i+1, len(parts))
		res.Usage, res.Calls = res.Usage.Add(r.Usage), res.Calls+r.Calls
		if err != nil {
			return recall.Analysis{}, err
		}
		summaries = append(summaries, r.Summary)
		lines = append(lines, r.ActionItems)
		items = append(items, r.Items)
		keywords = append(keywords, r.Keywords)
	}
	res.Summary = summaries[0]
	if len(parts) > 1 {
		f, u, err := a.call(ctx, callSpec{
			system: combineSystem, tool: combineTool, cfg: a.combineCfg, overhead: a.combineOverhead,
			user: combineMessage(norm, summaries), part: len(parts) + 1, parts: len(parts),
		})
		res.Usage, res.Calls = res.Usage.Add(u), res.Calls+1
		if err != nil {
			return recall.Analysis{}, err
		}
		res.Summary = f.Summary
	}
	res.ActionItems = normaliseItems(concat(lines), MaxActionItems)
	res.Items = mergeActionItems(items, MaxActionItems)
	res.Keywords = mergeKeywords(keywords, MaxKeywords)

	a.mu.Lock()
	a.modelLocked(a.model).Analyses++
	a.mu.Unlock()
	a.record(ctx, ModelTotals{Analyses: 1})
	if err := a.cache.Put(ctx, key, res, a.cacheTTL); err != nil {
		a.log.WarnContext(ctx, "bedrock: cache put failed", "conversation_id", in.ConversationID, "error", err.Error())
	}
	return res, nil
}

// cacheInput is in normalised as Analyze reads it, and the input of its
// cache keys: written once, so Forget finds exactly the entries Analyze
// made.
func (a *Analyzer) cacheInput(in recall.AnalysisInput) (recall.AnalysisInput, CacheInput) {
	norm := recall.AnalysisInput{
		ConversationID: in.ConversationID,
		Owner:          in.Owner,
		Title:          normaliseLine(in.Title),
		PostType:       normaliseLine(in.PostType),
		CreatedAt:      in.CreatedAt,
	}
	return norm, CacheInput{PromptVersion: promptVersion, Model: a.model, Owner: norm.Owner,
		Dates: datesKey(in.CreatedAt, a.dates), Title: norm.Title, PostType: norm.PostType, Content: normaliseContent(in.Content)}
}

// Forget implements recall.Forgetter: it deletes what the cache holds of
// in, the finished analysis and the parts of a split one, so a deleted
// conversation's analysis is not kept (nor served to its owner posting the
// same text again). Entries made under another model or prompt version
// than this analyzer's expire by their TTL.
func (a *Analyzer) Forget(ctx context.Context, in recall.AnalysisInput) error {
	_, ci := a.cacheInput(in)
	if ci.Content == "" {
		return nil
	}
	keys := []string{CacheKey(ci)}
	if parts := splitContent(ci.Content, a.budget); len(parts) > 1 {
		for i, p := range parts {
			pi := ci
			pi.Content = p
			keys = append(keys, PartKey(pi, i+1, len(parts)))
		}
	}
	if err := a.cache.Delete(ctx, keys...); err != nil {
		return fmt.Errorf("bedrock: forget %s: %w", in.ConversationID, err)
	}
	return nil
}

// part analyses part i of n of a conversation (n == 1: all of it). A part
// of a split conversation is first looked up in the cache, under PartKey,
// and its result stored there for PartCacheTTL: an earlier attempt of the
// run that got this far has paid for it, and it is returned with that
// attempt's usage and call. The result carries only the part's fields,
// usage and calls; a failed call's usage is returned with its error, since
// it was billed.
func (a *Analyzer) part(ctx context.Context, norm recall.AnalysisInput, ci CacheInput, content string, i, n int) (recall.Analysis, error) {
	var key string
	if n > 1 {
		ci.Content = content
		key = PartKey(ci, i, n)
		hit, ok, err := a.cache.Get(ctx, key)
		if err != nil {
			a.log.WarnContext(ctx, "bedrock: part cache get failed", "conversation_id", norm.ConversationID, "part", i, "error", err.Error())
		}
		if ok {
			a.log.DebugContext(ctx, "bedrock part from an earlier attempt", "conversation_id", norm.ConversationID, "part", i, "parts", n)
			return hit, nil
		}
	}
	f, u, err := a.call(ctx, callSpec{
		system: analyzeSystem, tool: analyzeTool, cfg: a.analyzeCfg, overhead: a.analyzeOverhead,
		user: analyzeMessage(norm, content, i, n), lists: true, part: i, parts: n,
	})
	if err != nil {
		return recall.Analysis{Usage: u, Calls: 1}, err
	}
	r := recall.Analysis{Summary: f.Summary, ActionItems: f.ActionItems, Keywords: f.Keywords, Model: a.model, Usage: u, Calls: 1,
		Items: resolveItems(f.Items, content, norm.CreatedAt, a.dates)}
	if key != "" {
		if err := a.cache.Put(ctx, key, r, a.partTTL); err != nil {
			a.log.WarnContext(ctx, "bedrock: part cache put failed", "conversation_id", norm.ConversationID, "part", i, "error", err.Error())
		}
	}
	return r, nil
}

// cached answers from the cache, as a free analysis.
func (a *Analyzer) cached(ctx context.Context, key string) (recall.Analysis, bool) {
	hit, ok, err := a.cache.Get(ctx, key)
	if err != nil {
		a.log.WarnContext(ctx, "bedrock: cache get failed", "error", err.Error())
		return recall.Analysis{}, false
	}
	if !ok {
		return recall.Analysis{}, false
	}
	hit.Usage, hit.Calls, hit.Cached = recall.Usage{}, 0, true
	if hit.Model == "" {
		hit.Model = a.model
	}
	a.mu.Lock()
	a.modelLocked(a.model).CacheHits++
	a.mu.Unlock()
	a.record(ctx, ModelTotals{CacheHits: 1})
	return hit, true
}

// callSpec is one model call of an analysis.
type callSpec struct {
	system, tool string
	cfg          *types.ToolConfiguration
	overhead     int
	user         string
	lists        bool
	part, parts  int
}

// call makes one paced Converse call and validates its reply. The usage is
// returned (and counted) even when the reply is refused, since it was
// billed.
func (a *Analyzer) call(ctx context.Context, c callSpec) (fields, recall.Usage, error) {
	est := c.overhead + EstimateTokens(c.user) + a.maxTok
	if err := a.limiter.Wait(ctx, est); err != nil {
		if errors.Is(err, context.Canceled) {
			return fields{}, recall.Usage{}, recall.Wrap(err, recall.EUNAVAILABLE, "the analysis was cancelled while waiting for Bedrock capacity")
		}
		e := recall.Wrap(err, recall.ETHROTTLED, "pacing Bedrock calls to stay under the quota for "+a.model)
		e.RetryAfter = recall.RetryAfter(err)
		return fields{}, recall.Usage{}, e
	}
	start := time.Now()
	cfg := c.cfg
	if a.noStrict.Load() {
		cfg = withoutStrict(cfg)
	}
	input := &bedrockruntime.ConverseInput{
		ModelId:         aws.String(a.model),
		System:          []types.SystemContentBlock{&types.SystemContentBlockMemberText{Value: c.system}},
		Messages:        []types.Message{{Role: types.ConversationRoleUser, Content: []types.ContentBlock{&types.ContentBlockMemberText{Value: c.user}}}},
		InferenceConfig: &types.InferenceConfiguration{MaxTokens: aws.Int32(int32(a.maxTok)), Temperature: aws.Float32(0)},
		ToolConfig:      cfg,
	}
	out, err := a.client.Converse(ctx, input)
	if err != nil && sendsStrict(cfg) && strictRefused(err) {
		// This model or region refuses strict tool use: send this call once
		// more without it, and every later one. Bedrock refused before the
		// model ran, so the limiter's reservation covers the second request.
		if !a.noStrict.Swap(true) {
			a.log.WarnContext(ctx, "bedrock: strict tool use refused; calling without it from now on", "model", a.model, "error", err.Error())
		}
		input.ToolConfig = withoutStrict(cfg)
		out, err = a.client.Converse(ctx, input)
	}
	took := time.Since(start)
	if err != nil {
		cl := classify(err, a.model, a.region)
		spent := est
		if cl.refused {
			spent = 0
		}
		a.limiter.Record(ctx, est, spent)
		if cl.throttle {
			a.limiter.Throttled(ctx)
		}
		a.mu.Lock()
		a.modelLocked(a.model).Failures++
		if cl.config {
			a.lastErr = &recall.Error{Code: cl.err.Code, Message: cl.err.Message}
		}
		a.mu.Unlock()
		a.record(ctx, ModelTotals{Failures: 1})
		a.log.DebugContext(ctx, "bedrock call failed", "model", a.model, "tool", c.tool, "part", c.part, "parts", c.parts,
			"code", cl.err.Code, "latency_ms", took.Milliseconds(), "error", err.Error())
		return fields{}, recall.Usage{}, cl.err
	}
	var u recall.Usage
	if out.Usage != nil {
		u.InputTokens = int(aws.ToInt32(out.Usage.InputTokens))
		u.OutputTokens = int(aws.ToInt32(out.Usage.OutputTokens))
	}
	a.limiter.Record(ctx, est, u.InputTokens+u.OutputTokens*a.burndown)
	a.mu.Lock()
	m := a.modelLocked(a.model)
	m.Calls++
	m.InputTokens += int64(u.InputTokens)
	m.OutputTokens += int64(u.OutputTokens)
	a.lastErr = nil
	a.mu.Unlock()
	a.record(ctx, ModelTotals{Calls: 1, InputTokens: int64(u.InputTokens), OutputTokens: int64(u.OutputTokens)})
	a.log.DebugContext(ctx, "bedrock call", "model", a.model, "tool", c.tool, "part", c.part, "parts", c.parts,
		"input_tokens", u.InputTokens, "output_tokens", u.OutputTokens, "stop_reason", string(out.StopReason),
		"latency_ms", took.Milliseconds())

	f, err := parseReply(out, c.tool, c.lists, a.maxTok)
	if err != nil {
		return fields{}, u, recall.Wrap(err, recall.EUNAVAILABLE, fmt.Sprintf("Bedrock's reply did not fit the %s schema: %s", c.tool, err.Error()))
	}
	return f, u, nil
}

// Health implements recall.Analyzer without calling the model:
// ("configured", nil), or the last permanent configuration error (model
// access, credentials, model ID) until a later call succeeds.
func (a *Analyzer) Health(context.Context) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.lastErr != nil {
		return "", a.lastErr
	}
	return "configured", nil
}

// UsageRecorder keeps running totals beyond this process. It receives each
// change as a delta (counters to add; Model is filled in) and is called on
// the analysis path, so it must be quick and must not fail the analysis.
type UsageRecorder interface {
	RecordUsage(ctx context.Context, delta ModelTotals)
}

func (a *Analyzer) record(ctx context.Context, d ModelTotals) {
	if a.usage != nil {
		d.Model = a.model
		a.usage.RecordUsage(ctx, d)
	}
}

// Totals returns the usage and estimated cost since the analyzer was made.
func (a *Analyzer) Totals() Totals {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.totalsLocked()
}

func concat(lists [][]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// mergeKeywords ranks the parts' keywords by how many parts name them, then
// by first appearance, and normalises the result.
func mergeKeywords(lists [][]string, max int) []string {
	if len(lists) == 1 {
		return normaliseKeywords(lists[0], max)
	}
	type kw struct {
		text  string
		count int
		first int
	}
	byKey := map[string]*kw{}
	var order []*kw
	for _, l := range lists {
		for _, k := range l {
			key := dedupKey(k)
			if e, ok := byKey[key]; ok {
				e.count++
				continue
			}
			e := &kw{text: k, count: 1, first: len(order)}
			byKey[key] = e
			order = append(order, e)
		}
	}
	ranked := make([]string, 0, len(order))
	for c := len(lists); c >= 1; c-- {
		for _, e := range order {
			if e.count == c {
				ranked = append(ranked, e.text)
			}
		}
	}
	return normaliseKeywords(ranked, max)
}
