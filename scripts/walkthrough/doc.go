// Package walkthrough tests docs/WALKTHROUGH.md: it runs every sh block of
// the page, in order, in one bash, from the root of the repository, against
// the real services (scripts/services.sh), and checks what SES received.
package walkthrough
