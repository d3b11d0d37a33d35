package web

import (
	"io/fs"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

// The page's modules are all embedded and served as scripts, and nothing
// in the page or its scripts needs what the Content-Security-Policy
// refuses: an inline script or style, an event handler attribute, markup
// built from strings.
func TestPageAssetsKeepTheCSP(t *testing.T) {
	f := newFixture(t, nil)
	b := f.browser(t)
	imports := regexp.MustCompile(`(?m)^import\s[^;]*?from\s+"\./([^"]+)"|^import\s+"\./([^"]+)"`)
	scripts := []string{"app.js"}
	seen := map[string]bool{}
	for len(scripts) > 0 {
		name := scripts[0]
		scripts = scripts[1:]
		if seen[name] {
			continue
		}
		seen[name] = true
		resp, body := b.do("GET", "/assets/"+name, "")
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/javascript") {
			t.Errorf("GET /assets/%s: %d %q", name, resp.StatusCode, resp.Header.Get("Content-Type"))
			continue
		}
		for _, m := range imports.FindAllStringSubmatch(string(body), -1) {
			scripts = append(scripts, m[1]+m[2])
		}
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", ".style.", `"style"`, "eval(", "new Function"} {
			if strings.Contains(string(body), bad) {
				t.Errorf("%s uses %s", name, bad)
			}
		}
	}
	for _, want := range []string{"app.js", "time.js", "rules.js"} {
		if !seen[want] {
			t.Errorf("%s is not imported by the page's scripts (seen %v)", want, seen)
		}
	}
	page, err := fs.ReadFile(staticFS, "static/index.html")
	if err != nil {
		t.Fatal(err)
	}
	for _, tag := range regexp.MustCompile(`<script[^>]*>[^<]*`).FindAll(page, -1) {
		if !strings.Contains(string(tag), ` src="`) || !strings.HasSuffix(string(tag), ">") {
			t.Errorf("index.html has an inline script: %.80q", tag)
		}
	}
	for _, re := range []string{`\sstyle=`, `<style`, `\son[a-z]+=`, `javascript:`} {
		if loc := regexp.MustCompile(re).FindIndex(page); loc != nil {
			t.Errorf("index.html has %q, which the CSP refuses: %.60q", re, page[loc[0]:])
		}
	}
}
