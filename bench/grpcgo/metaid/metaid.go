// Package metaid reads and writes meta-device IDs in MetaGPU's format,
// cnvrg-meta-<gpu index>-<share index>-<gpu uuid>, the format of the original
// MetaGPU plugin that the C# daemon keeps.
package metaid

import (
	"strconv"
	"strings"
)

// Prefix starts every meta-device ID.
const Prefix = "cnvrg-meta-"

// Format gives the ID of share `share` of GPU `gpu` (index) with UUID `uuid`.
func Format(gpu, share int, uuid string) string {
	return Prefix + strconv.Itoa(gpu) + "-" + strconv.Itoa(share) + "-" + uuid
}

// Parse splits an ID into its GPU index, share index and GPU UUID.
func Parse(id string) (gpu, share int, uuid string, ok bool) {
	if !strings.HasPrefix(id, Prefix) {
		return 0, 0, "", false
	}
	rest := id[len(Prefix):]
	dash := strings.IndexByte(rest, '-')
	if dash <= 0 {
		return 0, 0, "", false
	}
	gpu, err := strconv.Atoi(rest[:dash])
	if err != nil || gpu < 0 {
		return 0, 0, "", false
	}
	rest = rest[dash+1:]
	dash = strings.IndexByte(rest, '-')
	if dash <= 0 {
		return 0, 0, "", false
	}
	share, err = strconv.Atoi(rest[:dash])
	if err != nil || share < 0 {
		return 0, 0, "", false
	}
	uuid = rest[dash+1:]
	if uuid == "" {
		return 0, 0, "", false
	}
	return gpu, share, uuid, true
}
