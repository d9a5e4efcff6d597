//! Dedup and clustering give the same survivors on one rank and on four (ranks as threads
//! through the engine's own rank/world_size, exactly as separate processes would run them).

use std::path::Path;

use crate::common::{column, counts, pipeline, registry, run};
use crate::photos::{repo, variants};

/// Six photos, two smaller variants of each (with the same alt text), and two different photos that
/// share a boilerplate caption.
pub fn make_corpus(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let photos = repo().join("examples/data/photos");
    for (i, name) in [
        "astronaut.jpg",
        "chelsea.jpg",
        "coffee.jpg",
        "rocket.jpg",
        "camera.png",
        "coins.png",
    ]
    .iter()
    .enumerate()
    {
        let bytes = std::fs::read(photos.join(name)).unwrap();
        let stem = name.split('.').next().unwrap();
        std::fs::write(dir.join(name), &bytes).unwrap();
        let caption = if i >= 4 {
            "Image".to_string()
        } else {
            format!("A photo called {stem}.")
        };
        std::fs::write(dir.join(format!("{stem}.txt")), &caption).unwrap();
        let img = image::load_from_memory(&bytes).unwrap();
        for (v, b) in variants(&img)
            .into_iter()
            .filter(|(v, _)| ["resize_50", "crop_5"].contains(v))
        {
            let f = format!("{stem}_{v}.png");
            std::fs::write(dir.join(&f), b).unwrap();
            std::fs::write(dir.join(format!("{stem}_{v}.txt")), &caption).unwrap();
        }
    }
    // An exact copy under another name.
    std::fs::copy(photos.join("coffee.jpg"), dir.join("zz_coffee_copy.jpg")).unwrap();
}

#[test]
fn one_rank_and_four_ranks_keep_the_same_records() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = tmp.path().join("corpus");
    make_corpus(&corpus);
    let sets = vec![
        format!("source.path=\"{}\"", corpus.display()),
        "source.files_per_split=3".into(),
        "clusters.max_per_cluster=2".into(),
    ];
    let reg = registry();
    let one = tmp.path().join("one");
    run(pipeline(&sets), &reg, &one, 0, 1);
    let four = tmp.path().join("four");
    std::thread::scope(|s| {
        for r in 0..4 {
            let (reg, four, sets) = (&reg, &four, &sets);
            s.spawn(move || run(pipeline(sets), reg, four, r, 4));
        }
    });
    // Image dedup: one survivor per photo, the largest version (the original).
    let unique = column(&one, "unique_images", "uid");
    assert_eq!(
        unique,
        [
            "astronaut.jpg",
            "camera.png",
            "chelsea.jpg",
            "coffee.jpg",
            "coins.png",
            "rocket.jpg"
        ],
        "{unique:?}"
    );
    let c = counts(&one, "unique_images");
    assert_eq!(
        (c.dropped["near_duplicate"], c.dropped["exact_duplicate"]),
        (12, 1),
        "{c:?}"
    );
    // Caption dedup: camera (512×512) and coins (384×303) share "Image"; the larger stays.
    assert_eq!(counts(&one, "unique").dropped["caption_duplicate"], 1);
    assert!(!column(&one, "unique", "uid").contains(&"coins.png".to_string()));
    // Everything downstream is identical on four ranks.
    for stage in ["unique_images", "unique", "balanced", "samples"] {
        let col = if stage == "samples" { "id" } else { "uid" };
        assert_eq!(
            column(&one, stage, col),
            column(&four, stage, col),
            "stage {stage}"
        );
    }
    assert_eq!(
        column(&one, "samples", "meta"),
        column(&four, "samples", "meta")
    );
    // The cluster cap held: no cluster keeps more than 2 records.
    let metas = column(&one, "samples", "meta");
    let mut per: std::collections::BTreeMap<u64, u64> = Default::default();
    for m in &metas {
        let v: serde_json::Value = serde_json::from_str(m).unwrap();
        *per.entry(v["cluster"].as_u64().unwrap()).or_default() += 1;
        assert!(v["cluster_size"].as_u64().unwrap() >= 1);
        assert_eq!(v["caption_source"], "alt_text");
    }
    assert!(per.values().all(|&n| n <= 2), "{per:?}");

    // The output shards are themselves an input: every sample comes back as one record with
    // its caption as alt text, and nothing is lost or duplicated.
    let again = tmp.path().join("again");
    let sets = vec![format!("source.path=\"{}\"", one.join("samples").display())];
    run(pipeline(&sets), &reg, &again, 0, 1);
    let c = counts(&again, "source");
    assert_eq!((c.input, c.out), (metas.len() as u64, metas.len() as u64));
    let alts = |out: &Path| -> Vec<String> {
        let mut v: Vec<String> = column(out, "samples", "meta")
            .iter()
            .map(|m| serde_json::from_str::<serde_json::Value>(m).unwrap()["alt_text"].to_string())
            .collect();
        v.sort();
        v
    };
    assert_eq!(alts(&again), alts(&one));
}
