// Package secret reads secrets (passwords) from files, so that none has to
// live in an environment variable or on a command line.
package secret

import (
	"fmt"
	"os"
	"strings"
)

// ReadFile reads a secret from path, without the trailing newline editors
// and `echo` add. An empty file is an error: an empty password is never
// meant. The error names the file, never its content.
func ReadFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("reading secret: %w", err)
	}
	v := strings.TrimRight(string(b), "\r\n")
	if v == "" {
		return "", fmt.Errorf("secret file %s is empty", path)
	}
	return v, nil
}
