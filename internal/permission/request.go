package permission

import (
	"fmt"
	"strings"
)

// ParseRequest reads s, a permission that a caller requires, written
// RESOURCE:ACTION (writ verify --require-permission, whoami's
// ?permission=): it returns its resource and action, or an error when s
// is not written as a permission or names no single resource and action
// (see CheckRequest).
func ParseRequest(s string) (resource, action string, err error) {
	if strings.IndexByte(s, ':') < 0 || strings.Contains(s, "://") {
		return "", "", fmt.Errorf("permission %q: want RESOURCE:ACTION", s)
	}
	resource, action = Split(s)
	if err := CheckRequest(resource, action); err != nil {
		return "", "", fmt.Errorf("permission %q: %w", s, err)
	}
	return resource, action, nil
}
