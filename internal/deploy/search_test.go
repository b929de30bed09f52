package deploy

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/awslabs/goformation/v7/cloudformation"

	"recall/internal/bedrock"
	"recall/internal/httpapi"
	"recall/internal/lambdafn"
	"recall/internal/s3vec"
)

// embedModelARN is the one embedding model the roles may invoke: Titan
// Text Embeddings V2 in the stack's region, on demand (no inference
// profile).
var embedModelARN = fmt.Sprintf("arn:aws:bedrock:%s::foundation-model/%s", fakeRegion, bedrock.EmbedModelID)

// indexARN is how the evaluated template names the vector index's ARN.
var indexARN = symbol("VectorIndex.IndexArn")

// searchGrants is what each role may do for search on AWS, by function:
// create writes a new conversation's keyword items and, serving DELETE
// (httpapi.RouteTable), removes a deleted conversation's vector and keyword
// items; get serves search, which embeds the query, queries vectors and
// keywords, and removes the entries of hits the store no longer has (the
// Service's search repairs the index); process indexes an analysed
// conversation (and forgets a deleted one); health pings the index. Web
// holds nothing of it.
var searchGrants = map[string]struct {
	vectors  []string // on the index
	embed    bool     // InvokeModel on the embedding model
	keywords []string // on the table, KW# partitions only
}{
	httpapi.FunctionCreate:   {vectors: []string{"s3vectors:DeleteVectors"}, keywords: []string{"dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem"}},
	httpapi.FunctionGet:      {vectors: []string{"s3vectors:DeleteVectors", "s3vectors:GetVectors", "s3vectors:QueryVectors"}, embed: true, keywords: []string{"dynamodb:BatchWriteItem", "dynamodb:DeleteItem"}},
	lambdafn.FunctionProcess: {vectors: []string{"s3vectors:DeleteVectors", "s3vectors:PutVectors"}, embed: true, keywords: []string{"dynamodb:BatchWriteItem", "dynamodb:DeleteItem", "dynamodb:PutItem"}},
	httpapi.FunctionHealth:   {vectors: []string{"s3vectors:GetIndex"}},
	httpapi.FunctionWeb:      {},
}

func custom(t *testing.T, typ string) map[string]*cloudformation.CustomResource {
	t.Helper()
	out := map[string]*cloudformation.CustomResource{}
	for id, r := range resources[*cloudformation.CustomResource](appStack(t)) {
		if r.Type == typ {
			out[id] = r
		}
	}
	return out
}

// TestSearchResources: the vector index holds what the embedder makes
// (its dimension, unit vectors compared by cosine) with the owner
// filterable, and every function that opens search is told where it is.
func TestSearchResources(t *testing.T) {
	t.Parallel()
	buckets := custom(t, "Custom::S3Vectors::VectorBucket")
	indexes := custom(t, "Custom::S3Vectors::Index")
	if len(buckets) != 1 || len(indexes) != 1 || buckets["VectorBucket"] == nil || indexes["VectorIndex"] == nil {
		t.Fatalf("want one AWS::S3Vectors::VectorBucket VectorBucket and one AWS::S3Vectors::Index VectorIndex; have %v and %v", buckets, indexes)
	}
	idx := indexes["VectorIndex"]
	p := idx.Properties
	if fmt.Sprint(p["Dimension"]) != fmt.Sprint(bedrock.DefaultEmbedDimensions) || p["DistanceMetric"] != "cosine" || p["DataType"] != "float32" {
		t.Errorf("index Dimension %v, DistanceMetric %v, DataType %v; want %d (the embedder's), cosine, float32",
			p["Dimension"], p["DistanceMetric"], p["DataType"], bedrock.DefaultEmbedDimensions)
	}
	if p["VectorBucketArn"] != symbol("VectorBucket.VectorBucketArn") {
		t.Errorf("index VectorBucketArn %v; want the stack's vector bucket", p["VectorBucketArn"])
	}
	if mc, ok := p["MetadataConfiguration"].(map[string]any); ok && strings.Contains(fmt.Sprint(mc["NonFilterableMetadataKeys"]), s3vec.MetaOwner) {
		t.Errorf("%q is non-filterable; every query filters on it", s3vec.MetaOwner)
	}
	for id, r := range map[string]*cloudformation.CustomResource{"VectorBucket": buckets["VectorBucket"], "VectorIndex": idx} {
		if r.AWSCloudFormationDeletionPolicy != "Retain" || r.AWSCloudFormationUpdateReplacePolicy != "Retain" {
			t.Errorf("%s is not retained: its vectors cost an embedding call each to rebuild", id)
		}
	}
	for name, f := range appFunctions(t) {
		if name == httpapi.FunctionWeb {
			continue
		}
		if got := f.Env["RECALL_VECTOR_INDEX"]; got != str(p["IndexName"]) || got == "" {
			t.Errorf("%s: RECALL_VECTOR_INDEX %q; want the index's name %v", name, got, p["IndexName"])
		}
		if got := f.Env["RECALL_VECTOR_BUCKET"]; !strings.Contains(got, "Split:/:"+symbol("VectorBucket.VectorBucketArn")) || !strings.HasPrefix(got, "${Select:1:") {
			t.Errorf("%s: RECALL_VECTOR_BUCKET %q; want the bucket's name, the part of its ARN after bucket/", name, got)
		}
		if got := f.Env["RECALL_EMBED_MODEL"]; got != bedrock.EmbedModelID {
			t.Errorf("%s: RECALL_EMBED_MODEL %q; want %s, the model the roles may invoke", name, got, bedrock.EmbedModelID)
		}
	}
}

// TestSearchPermissions: each role holds exactly what its function does
// for search: vector actions on the one index, InvokeModel on the one
// embedding model, and keyword writes confined to the KW# partitions.
func TestSearchPermissions(t *testing.T) {
	t.Parallel()
	type grants struct {
		vectors, keywords map[string]bool
		embed             bool
	}
	got := map[string]*grants{}
	for name := range searchGrants {
		got[roleOf(name)] = &grants{vectors: map[string]bool{}, keywords: map[string]bool{}}
	}
	usedVectors := map[string]bool{"s3vectors:GetVectors": true} // a filtered QueryVectors needs it
	for _, a := range clientCalls(t, "s3vectors:", "internal/s3vec/s3vec.go") {
		usedVectors[a] = true
	}
	for _, st := range statements(t) {
		g := got[st.Role]
		for _, a := range st.Actions {
			switch {
			case strings.HasPrefix(a, "s3vectors:"):
				if !slices.Equal(st.Resources, []string{indexARN}) {
					t.Errorf("%s/%s: %s on %v; want the vector index alone (%s)", st.Role, st.Sid, a, st.Resources, indexARN)
				}
				if !usedVectors[a] {
					t.Errorf("%s/%s: %s, which package s3vec never needs", st.Role, st.Sid, a)
				}
				if g != nil {
					g.vectors[a] = true
				}
			case slices.Equal(st.Resources, []string{embedModelARN}):
				if a != "bedrock:InvokeModel" || st.Condition != nil {
					t.Errorf("%s/%s: %s on the embedding model (condition %v); want InvokeModel alone", st.Role, st.Sid, a, st.Condition)
				}
				if g != nil {
					g.embed = true
				}
			case strings.HasPrefix(a, "bedrock:") && strings.Contains(fmt.Sprint(st.Resources), "titan"):
				t.Errorf("%s/%s: %s on %v; want exactly %s", st.Role, st.Sid, a, st.Resources, embedModelARN)
			case st.Sid == "SearchKeywords":
				// The keyword statements; the conversations statements also
				// grant BatchWriteItem, for the action item rows.
				cond, _ := st.Condition["ForAllValues:StringLike"].(map[string]any)
				if keys := strs(cond["dynamodb:LeadingKeys"]); !slices.Equal(keys, []string{"KW#*"}) {
					t.Errorf("%s/%s: %s with condition %v; want it confined to the keyword partitions (dynamodb:LeadingKeys KW#*)", st.Role, st.Sid, a, st.Condition)
				}
				if g != nil {
					g.keywords[a] = true
				}
			}
		}
	}
	for name, want := range searchGrants {
		g := got[roleOf(name)]
		if v := sortedKeys(g.vectors); !slices.Equal(v, want.vectors) {
			t.Errorf("%s: vector actions %v; want %v", roleOf(name), v, want.vectors)
		}
		if k := sortedKeys(g.keywords); !slices.Equal(k, want.keywords) {
			t.Errorf("%s: keyword actions %v; want %v", roleOf(name), k, want.keywords)
		}
		if g.embed != want.embed {
			t.Errorf("%s: may invoke the embedding model %v; want %v", roleOf(name), g.embed, want.embed)
		}
	}
}

func sortedKeys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestEmbeddingUsageIsShared: config records each embedding call in the
// usage totals in Redis (backends.embedUsage), and only there, so a
// function that may embed (search's query, indexing's conversation) must
// reach the cache: in the VPC, with REDIS_URL. Otherwise its spend never
// reaches `recall usage` or the per-owner token budget.
func TestEmbeddingUsageIsShared(t *testing.T) {
	t.Parallel()
	fns := appFunctions(t)
	embeds := 0
	for _, st := range statements(t) {
		if !slices.Equal(st.Resources, []string{embedModelARN}) {
			continue
		}
		embeds++
		name := strings.ToLower(strings.TrimSuffix(st.Role, "Role"))
		f, ok := fns[name]
		if !ok {
			t.Errorf("%s/%s may embed, but no function %s uses it", st.Role, st.Sid, name)
			continue
		}
		if _, redis := f.Env["REDIS_URL"]; !redis || f.F.VpcConfig == nil {
			t.Errorf("%s may embed but has REDIS_URL %v, VpcConfig %v: its embedding tokens would never reach the shared usage totals", name, redis, f.F.VpcConfig != nil)
		}
	}
	if embeds == 0 {
		t.Fatal("no role may invoke the embedding model")
	}
}

// tableActions returns, by role, the DynamoDB actions granted on the whole
// table without a condition: what a role may do to conversations, keys
// and item rows, not only to keyword partitions.
func tableActions(t *testing.T) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	for _, st := range statements(t) {
		if st.Condition != nil || !slices.Equal(st.Resources, []string{symbol("Table.Arn")}) {
			continue
		}
		for _, a := range st.Actions {
			if strings.HasPrefix(a, "dynamodb:") {
				if out[st.Role] == nil {
					out[st.Role] = map[string]bool{}
				}
				out[st.Role][a] = true
			}
		}
	}
	return out
}

// TestWritesFollowTheRoutes: IAM follows httpapi.RouteTable. The function
// that serves DELETE /api/conversations/{id} may do what the store's
// Delete calls (internal/dynamo/delete.go: read, delete the key and the
// record, lock the record and delete its item rows) and what search on AWS
// then removes (searchGrants: the vector, the keyword items); a function
// that serves only GET routes may read the table and nothing more.
func TestWritesFollowTheRoutes(t *testing.T) {
	t.Parallel()
	table := tableActions(t)
	methods := map[string]map[string]bool{} // function -> its routes' methods
	deleter := ""
	for _, rt := range httpapi.RouteTable() {
		if methods[rt.Function] == nil {
			methods[rt.Function] = map[string]bool{}
		}
		methods[rt.Function][rt.Method] = true
		if rt.Name == httpapi.RouteDelete {
			deleter = rt.Function
		}
	}
	if deleter == "" {
		t.Fatal("httpapi.RouteTable has no delete route")
	}
	need := append(clientCalls(t, "dynamodb:", "internal/dynamo/delete.go"), "dynamodb:UpdateItem", "dynamodb:BatchWriteItem") // deleteRows: updateRecord, batchWrite
	for _, a := range need {
		if !table[roleOf(deleter)][a] {
			t.Errorf("%s serves DELETE but its role lacks %s on the table; the store's Delete calls it", deleter, a)
		}
	}
	if !slices.Contains(searchGrants[deleter].vectors, "s3vectors:DeleteVectors") || !slices.Contains(searchGrants[deleter].keywords, "dynamodb:DeleteItem") {
		t.Errorf("%s serves DELETE but searchGrants lets it remove no vector or keyword item: a deleted conversation would stay findable", deleter)
	}
	for name, ms := range methods {
		if len(ms) != 1 || !ms["GET"] {
			continue
		}
		for a := range table[roleOf(name)] {
			if a != "dynamodb:GetItem" && a != "dynamodb:Query" {
				t.Errorf("%s serves only GET routes, but its role grants %s on the whole table", roleOf(name), a)
			}
		}
	}
}

// TestLocalEnvMatchesTemplate: `sam local invoke --env-vars env.json`
// passes a function only the variables the template declares for it, so a
// variable env.json gives a function the template does not is silently
// dropped; and a function given the local Redis (plain, not a cluster)
// must say so, or it keeps the template's RECALL_REDIS_CLUSTER=true.
func TestLocalEnvMatchesTemplate(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "env.json"))
	if err != nil {
		t.Fatal(err)
	}
	var local map[string]map[string]string
	if err := json.Unmarshal(b, &local); err != nil {
		t.Fatalf("env.json: %v", err)
	}
	fns := appFunctions(t)
	for id, vars := range local {
		name := strings.ToLower(strings.TrimSuffix(id, "Function"))
		f, ok := fns[name]
		if !ok {
			t.Errorf("env.json: %s is no function of the template", id)
			continue
		}
		for k := range vars {
			if _, ok := f.Env[k]; !ok && k != "AWS_REGION" { // AWS_REGION: sam local sets it
				t.Errorf("env.json: %s sets %s, which the template does not declare for it; sam local drops it", id, k)
			}
		}
		if _, redis := vars["REDIS_URL"]; redis && f.Env["RECALL_REDIS_CLUSTER"] == "true" && vars["RECALL_REDIS_CLUSTER"] != "false" {
			t.Errorf("env.json: %s reaches the local Redis but keeps RECALL_REDIS_CLUSTER=true", id)
		}
	}
}
