package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// usersCSV returns the path of a CSV of n users (user_id,email,name,kwh)
// under dir, writing it once; later runs reuse it.
func usersCSV(dir string, n int) (string, error) {
	path := filepath.Join(dir, fmt.Sprintf("users-%d.csv", n))
	if st, err := os.Stat(path); err == nil && st.Size() > 0 {
		return path, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	_, _ = w.WriteString("user_id,email,name,kwh\n")
	names := []string{"Ann", "Bob", "Chloé", "Dmitri", "Eve", "Fatima", "Gus", "Hana"}
	var b []byte
	for i := range n {
		b = b[:0]
		b = fmt.Appendf(b, "u%09d,user%09d@bench.example.org,%s %d,", i, i, names[i%len(names)], i)
		b = strconv.AppendFloat(b, float64(100+(i*37)%900)+float64(i%10)/10, 'f', 1, 64)
		b = append(b, '\n')
		_, _ = w.Write(b)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp, path)
}
