//! Near-duplicate detection on real photos with known transformations (resize, JPEG
//! re-encode, 5% crop, brightness, small rotation) against distinct photos, at the default
//! thresholds: pairwise precision and recall of the matcher, and the groups dedup makes.

use weft_pipeline_caption::groups::Rank;
use weft_pipeline_caption::hash::{Hashers, hamming};
use weft_pipeline_caption::near::{ImageThresholds, image_leaders};
use weft_pipeline_caption::normalise::{Rules, normalise};

use crate::photos::{distinct_photos, variants};

#[test]
fn near_duplicates_of_real_photos_precision_and_recall() {
    let hashers = Hashers::new();
    let rules = Rules::default();
    let t = ImageThresholds::default();
    // (family, name, pixels, sha, phash, dhash)
    let mut recs = Vec::new();
    let photos = distinct_photos();
    for (fam, (name, path)) in photos.iter().enumerate() {
        let bytes = std::fs::read(path).unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        let mut all = vec![("original", bytes)];
        all.extend(variants(&img));
        for (v, b) in all {
            let n = normalise(&b, &rules, &hashers).unwrap_or_else(|e| panic!("{name} {v}: {e:?}"));
            recs.push((
                fam,
                format!("{name}/{v}"),
                n.width as u64 * n.height as u64,
                n.sha256,
                n.signature.phash,
                n.signature.dhash,
            ));
        }
    }
    let matches = |a: &(usize, String, u64, String, u64, u64),
                   b: &(usize, String, u64, String, u64, u64)| {
        hamming(a.4, b.4) <= t.phash && hamming(a.5, b.5) <= t.dhash
    };
    let (mut tp, mut fp, mut fn_) = (0u32, 0u32, 0u32);
    let mut worst_same = (0, 0);
    let mut closest_other = (64, 64);
    for i in 0..recs.len() {
        for j in i + 1..recs.len() {
            let same = recs[i].0 == recs[j].0;
            let (dp, dd) = (hamming(recs[i].4, recs[j].4), hamming(recs[i].5, recs[j].5));
            if same {
                worst_same = (worst_same.0.max(dp), worst_same.1.max(dd));
            } else {
                closest_other = (closest_other.0.min(dp), closest_other.1.min(dd));
            }
            match (same, matches(&recs[i], &recs[j])) {
                (true, true) => tp += 1,
                (false, true) => {
                    fp += 1;
                    eprintln!(
                        "false match: {} ~ {} (pHash {dp}, dHash {dd})",
                        recs[i].1, recs[j].1
                    );
                }
                (true, false) => {
                    fn_ += 1;
                    eprintln!(
                        "missed: {} ~ {} (pHash {dp}, dHash {dd})",
                        recs[i].1, recs[j].1
                    );
                }
                (false, false) => {}
            }
        }
    }
    let precision = f64::from(tp) / f64::from((tp + fp).max(1));
    let recall = f64::from(tp) / f64::from((tp + fn_).max(1));
    // Groups: every family should collapse into one group led by its largest member.
    let ranks: Vec<Rank> = recs
        .iter()
        .map(|r| Rank {
            pixels: r.2,
            id: r.3.clone(),
            uid: r.1.clone(),
        })
        .collect();
    let ph: Vec<u64> = recs.iter().map(|r| r.4).collect();
    let dh: Vec<u64> = recs.iter().map(|r| r.5).collect();
    let lead = image_leaders(&ranks, &ph, &dh, t);
    let grouped_right = (0..recs.len())
        .filter(|&i| recs[lead[i]].0 == recs[i].0)
        .count();
    let survivors = (0..recs.len()).filter(|&i| lead[i] == i).count();
    println!(
        "near-duplicates on {} real photos x 6 versions (pHash <= {}, dHash <= {}): pairwise precision {precision:.4}, recall {recall:.4} \
         (tp {tp}, fp {fp}, fn {fn_}); worst same-photo distance pHash {} dHash {}, closest different photos pHash {} dHash {}; \
         {survivors} survivors for {} photos, {grouped_right}/{} records grouped with their own photo",
        photos.len(),
        t.phash,
        t.dhash,
        worst_same.0,
        worst_same.1,
        closest_other.0,
        closest_other.1,
        photos.len(),
        recs.len()
    );
    assert!(photos.len() >= 6);
    assert!(precision >= 0.99, "precision {precision}");
    assert!(recall >= 0.95, "recall {recall}");
    assert_eq!(
        grouped_right,
        recs.len(),
        "a variant joined another photo's group"
    );
}
