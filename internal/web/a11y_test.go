package web_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
)

// axeSource is axe-core from the repository's npm packages (`npm ci`,
// which `make test` runs).
var axeSource = sync.OnceValues(func() (string, error) {
	out, err := os.ReadFile(filepath.Join(moduleDir, "node_modules", "axe-core", "axe.min.js"))
	if err != nil {
		return "", fmt.Errorf("axe-core is missing (%v): run npm ci (`make test` does)", err)
	}
	return string(out), nil
})

type axeViolation struct {
	ID     string   `json:"id"`
	Impact string   `json:"impact"`
	Help   string   `json:"help"`
	Nodes  []string `json:"nodes"`
}

// axe runs axe-core on the current view and fails on any violation of
// impact serious or critical, in the light and the dark colour scheme.
func (b *tab) axe(view string) {
	b.t.Helper()
	modRoot(b.t)
	src, err := axeSource()
	if err != nil {
		b.t.Fatal(err)
	}
	// Injected through the DevTools protocol, which the page's CSP does not
	// govern; the page itself could never load it.
	if !js[bool](b, `typeof axe !== "undefined"`) {
		if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[chromedp.Void](src)); err != nil {
			b.t.Fatalf("inject axe-core: %v", err)
		}
	}
	for _, dark := range []bool{false, true} {
		b.dark(dark)
		vs := js[[]axeViolation](b, `axe.run(document, {resultTypes: ["violations"]}).then(r =>
			r.violations.filter(v => v.impact === "serious" || v.impact === "critical").map(v => ({
				id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map(n => n.target.join(" ")).slice(0, 5)})))`)
		for _, v := range vs {
			b.t.Errorf("axe, %s view (dark %v): %s (%s): %s, at %s", view, dark, v.ID, v.Impact, v.Help, strings.Join(v.Nodes, "; "))
		}
	}
	b.dark(false)
}

// artifacts is where screenshots go: $RECALL_ARTIFACTS, or
// testdata/artifacts (ignored by git).
func artifacts(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("RECALL_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// shots writes screenshots of the current view at phone (375 px) and
// desktop (1280 px) widths, light and dark, then restores the desktop.
func (b *tab) shots(name string) {
	b.t.Helper()
	dir := artifacts(b.t)
	for _, w := range []int64{375, 1280} {
		for _, dark := range []bool{false, true} {
			b.dark(dark)
			b.do(chromedp.EmulateViewport(w, 900))
			png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
			if err != nil {
				b.t.Fatalf("screenshot: %v", err)
			}
			scheme := "light"
			if dark {
				scheme = "dark"
			}
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%d-%s.png", name, w, scheme)), png, 0o644); err != nil {
				b.t.Fatal(err)
			}
			// Nothing may stick out sideways at phone width.
			if overflow := js[int](b, `document.documentElement.scrollWidth - document.documentElement.clientWidth`); overflow > 0 {
				b.t.Errorf("%s at %d px: the page is %d px wider than the screen", name, w, overflow)
			}
		}
	}
	b.dark(false)
	b.do(chromedp.EmulateViewport(1280, 900))
}
