package producer

import (
	"fmt"
	"os"
)

// CreateRejectsFile creates (or truncates) the --rejects-file readable by
// its owner only (0600): it holds user ids and row numbers of a customer
// list. An existing file is narrowed to 0600 too.
func CreateRejectsFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("--rejects-file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("--rejects-file: making it private (0600): %w", err)
	}
	return f, nil
}
