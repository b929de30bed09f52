package deploy

import (
	"fmt"
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
// create writes a new conversation's keyword items; get serves search and
// the index side of a delete (httpapi's routing today); process indexes
// an analysed conversation (and forgets a deleted one); health pings the
// index. Web holds nothing of it.
var searchGrants = map[string]struct {
	vectors  []string // on the index
	embed    bool     // InvokeModel on the embedding model
	keywords []string // on the table, KW# partitions only
}{
	httpapi.FunctionCreate:   {keywords: []string{"dynamodb:BatchWriteItem"}},
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
