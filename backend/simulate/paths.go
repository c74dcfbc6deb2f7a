package simulate

import (
	"fmt"
	"path/filepath"
)

// Temporary path helpers mirroring the Algonauts layout until the
// algonauts package lands.

func subjectDir(root string, subj int) string {
	return filepath.Join(root, fmt.Sprintf("subj%02d", subj))
}

func trainImagePath(root string, subj, index1, nsdID int) string {
	return filepath.Join(subjectDir(root, subj), "training_split", "training_images", fmt.Sprintf("train-%04d_nsd-%05d.png", index1, nsdID))
}

func testImagePath(root string, subj, index1, nsdID int) string {
	return filepath.Join(subjectDir(root, subj), "test_split", "test_images", fmt.Sprintf("test-%04d_nsd-%05d.png", index1, nsdID))
}

func fmriPath(root string, subj int, hemi string) string {
	return filepath.Join(subjectDir(root, subj), "training_split", "training_fmri", hemi+"_training_fmri.npy")
}

func maskPath(root string, subj int, hemi, class, space string) string {
	return filepath.Join(subjectDir(root, subj), "roi_masks", fmt.Sprintf("%s.%s_%s_space.npy", hemi, class, space))
}

func allVerticesMaskPath(root string, subj int, hemi string) string {
	return filepath.Join(subjectDir(root, subj), "roi_masks", hemi+".all-vertices_fsaverage_space.npy")
}

func mappingPath(root string, subj int, class string) string {
	return filepath.Join(subjectDir(root, subj), "roi_masks", "mapping_"+class+".npy")
}
