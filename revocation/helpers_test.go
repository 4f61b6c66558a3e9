package revocation

import "os"

func osMkdirTemp() (string, error) { return os.MkdirTemp("", "writ-revocation-bench-") }
