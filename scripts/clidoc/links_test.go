package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var mdLink = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// TestDocLinks: README.md and docs/*.md link only files that are in the
// repository (a link outside it, like ../shared/CONTRACT.md, is dead in a
// clone).
func TestDocLinks(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	pages = append(pages, filepath.Join(root, "README.md"))
	checked := 0
	for _, page := range pages {
		b, err := os.ReadFile(page)
		require.NoError(t, err)
		for _, m := range mdLink.FindAllStringSubmatch(string(b), -1) {
			link := m[1]
			if strings.Contains(link, "://") || strings.HasPrefix(link, "#") || strings.HasPrefix(link, "mailto:") {
				continue
			}
			link, _, _ = strings.Cut(link, "#")
			target := filepath.Clean(filepath.Join(filepath.Dir(page), link))
			rel, err := filepath.Rel(root, target)
			require.NoError(t, err)
			require.False(t, strings.HasPrefix(rel, ".."), "%s links %s, outside the repository", filepath.Base(page), m[1])
			_, err = os.Stat(target)
			require.NoError(t, err, "%s links %s, which does not exist", filepath.Base(page), m[1])
			checked++
		}
	}
	require.Greater(t, checked, 5, "links checked")
}
