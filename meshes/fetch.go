package meshes

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"cortexcast/backend/pinned"
)

// FetchCommit is the nilearn commit whose fsaverage5 files FetchFsaverage5
// downloads; FetchBaseURL is their directory there.
const (
	FetchCommit  = "59fffa24b81712132c78549c242f68d0f3db8a67"
	FetchBaseURL = "https://raw.githubusercontent.com/nilearn/nilearn/" + FetchCommit + "/nilearn/datasets/data/fsaverage5/"
	// FetchDialTimeout bounds connecting, so that an offline machine fails
	// at once.
	FetchDialTimeout = 5 * time.Second
)

// PinnedFile is a file FetchFsaverage5 downloads, with its size and
// SHA-256.
type PinnedFile struct {
	Name   string
	Size   int64
	SHA256 string
}

// Fsaverage5Files returns the fsaverage5 files BuildBundle uses, as nilearn
// ships them (commit FetchCommit).
func Fsaverage5Files() []PinnedFile {
	return []PinnedFile{
		{"infl_left.gii.gz", 200495, "1a571c9d598a476a202c7295c235a709de63360047b92c0e7b75ed18b0f37e74"},
		{"infl_right.gii.gz", 200532, "9f66b009e1da72158d75b4e739c6289aba0c1b08d818b2f0f9f61204aa4ba895"},
		{"pial_left.gii.gz", 200168, "1e76fe43ac194c15fd272643f7ae7995621e2a496b3102b2d6175f0f8e6d7fc8"},
		{"pial_right.gii.gz", 200202, "fdfae008bc10acf7cba82737ea5db9a7298948c41884a2d3330a785783a60a91"},
		{"white_left.gii.gz", 200092, "ecd590c1405e5553604fd4b113cee13d62638e5fb4084438201db82a4c711c64"},
		{"white_right.gii.gz", 200089, "bd0f184539c82eae3b5b22297c4b5f64f901e276152f79d9fa62337f7e0d30d8"},
		{"sphere_left.gii.gz", 149578, "1047fe84e0055f40896afaba320edcc791e84f459daadc4b0002850baf8e79f3"},
		{"sphere_right.gii.gz", 149580, "08899ce6022b739ceb4e5f925e947a79041fc505007c46ace3454ad02587ea6b"},
		{"flat_left.gii.gz", 168559, "956f81e6b98423bdea5ef29225489f53a4d36979ac8b85881e62cedf4f5ece1b"},
		{"flat_right.gii.gz", 168745, "8c757fb23fa41752808b97485ad7c272def8276688f05f1faceb75230e3e602c"},
		{"sulc_left.gii.gz", 38996, "bd0f87e0cba153e9d5c5281edc7267f631b1967e5883d4027924766c8430eb62"},
		{"sulc_right.gii.gz", 39026, "97afe76225903205a16b88f88cd796945f2a27011328e98decaa9128ff063afb"},
		{"curv_left.gii.gz", 38348, "21c0a0077df466a139ab08ae260f04d13a3050d1eed94ea7f388c75768747c25"},
		{"curv_right.gii.gz", 38182, "f74f53ef770330c1f8c571576c1ec251e3e3d07baa64d82387c17d8d78e723f9"},
	}
}

// FetchClient returns the HTTP client FetchFsaverage5 uses by default:
// connections and TLS handshakes time out after FetchDialTimeout, a whole
// download after two minutes.
func FetchClient() *http.Client {
	return &http.Client{
		Timeout: 2 * time.Minute,
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           (&net.Dialer{Timeout: FetchDialTimeout}).DialContext,
			TLSHandshakeTimeout:   FetchDialTimeout,
			ResponseHeaderTimeout: 30 * time.Second,
		},
	}
}

// pin is what f's download must be.
func (f PinnedFile) pin() pinned.File { return pinned.File{Size: f.Size, SHA256: f.SHA256} }

// FetchFsaverage5 downloads the fsaverage5 files (Fsaverage5Files) from
// baseURL (FetchBaseURL unless testing) into destDir/fsaverage5, checking
// each file's size and SHA-256 and writing it atomically; files already
// there and intact are kept. It stops at the first failure; when the
// server cannot be reached it fails at once with instructions for putting
// the files there by hand. client nil means FetchClient(); progress (may be
// nil) gets one line per file.
func FetchFsaverage5(ctx context.Context, client *http.Client, baseURL, destDir string, progress io.Writer) error {
	if client == nil {
		client = FetchClient()
	}
	if progress == nil {
		progress = io.Discard
	}
	dir := filepath.Join(destDir, "fsaverage5")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("meshes: fetch: %w", err)
	}
	for _, f := range Fsaverage5Files() {
		path := filepath.Join(dir, f.Name)
		if ok, _ := pinned.OK(path, f.pin()); ok {
			fmt.Fprintf(progress, "%s: present, checksum ok\n", path)
			continue
		}
		url := baseURL + f.Name
		if err := pinned.Download(ctx, client, url, path, f.pin(), nil); err != nil {
			return fmt.Errorf("meshes: fetch %s: %w\n%s", url, err, byHand(dir, baseURL))
		}
		fmt.Fprintf(progress, "%s: downloaded %d bytes, checksum ok\n", path, f.Size)
	}
	return nil
}

// byHand explains how to put the files in place without this command.
func byHand(dir, baseURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Could not download the fsaverage5 meshes (offline, or %s unreachable or changed).\n", baseURL)
	fmt.Fprintf(&b, "Put these files by hand in %s (or in <dir>/fsaverage5/ and pass <dir> by --meshes or $%s),\n", dir, EnvMeshes)
	b.WriteString("copied from another machine, from nilearn's repository (directory nilearn/datasets/data/fsaverage5/ at commit\n")
	fmt.Fprintf(&b, "%s), or from an installed nilearn package (<site-packages>/nilearn/datasets/data/fsaverage5/);\n", FetchCommit)
	b.WriteString("then run `make meshes` again to check them. Name, size and SHA-256:\n")
	for _, f := range Fsaverage5Files() {
		fmt.Fprintf(&b, "  %-20s %7d  %s\n", f.Name, f.Size, f.SHA256)
	}
	return b.String()
}
