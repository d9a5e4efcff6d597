//! Golden and property tests of the sample kinds.

use std::path::PathBuf;

use super::*;
use crate::convention::ResizeParams;
use crate::images::{ImageLoader, ImageOptions};
use crate::readers::ReaderOptions;
use crate::readers::coco::CocoIndex;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// The three fixture photos as the COCO reader builds them (seed 5, 3 negatives).
fn coco_records() -> Vec<ImageRecord> {
    let index = CocoIndex::load(&fixtures().join("annotations.json")).unwrap();
    let loader = ImageLoader::new(ImageOptions::default());
    let opts = ReaderOptions {
        source: "fixture".into(),
        seed: 5,
        negatives: 3,
        exhaustive: true,
        ignore_categories: vec!["background".into()],
    };
    (0..index.images.len())
        .map(|i| {
            index
                .build(
                    i,
                    &fixtures().join("images"),
                    "annotations.json",
                    &loader,
                    &opts,
                )
                .record
                .unwrap()
        })
        .collect()
}

fn cfg(task: Task, convention: Convention) -> TaskConfig {
    TaskConfig {
        task,
        convention,
        max_objects: 50,
        turns: 2,
        negative_ratio: 0.25,
        category_expressions: true,
    }
}

fn only(rec: &ImageRecord, category: &str) -> ImageRecord {
    let mut r = rec.clone();
    r.objects.retain(|o| o.category == category);
    r.absent.clear();
    r
}

fn one(task: Task, rec: &ImageRecord, category: &str, conv: Convention) -> Question {
    let mut c = cfg(task, conv);
    c.turns = 1;
    let t = Templates::builtin().unwrap();
    let mut qs = questions(&only(rec, category), &c, &t, 5).unwrap().unwrap();
    assert_eq!(qs.len(), 1);
    qs.remove(0)
}

// Golden tests: one per kind, on the fixture photos. Every number below was checked against
// Python's `round(x / W * 1000)` (or the Qwen2.5 formula) on the fixture's boxes.

#[test]
fn golden_ref_grounding() {
    let q = one(
        Task::RefGrounding,
        &coco_records()[1],
        "spoon",
        Convention::Qwen3,
    );
    assert_eq!(
        q.prompt,
        "Where is the spoon? Give its bounding box in JSON."
    );
    // spoon [324, 66, 424, 326] on 600×400
    assert_eq!(
        q.answer,
        "```json\n[\n\t{\"bbox_2d\": [540, 165, 707, 815], \"label\": \"the spoon\"}\n]\n```"
    );
    assert_eq!(q.meta["annotation_ids"], serde_json::json!(["27"]));
    assert_eq!(q.meta["expression_source"], "category");
}

#[test]
fn golden_multi_grounding_lists_all_24_coins_in_reading_order() {
    let q = one(
        Task::MultiGrounding,
        &coco_records()[0],
        "coin",
        Convention::Qwen3,
    );
    assert_eq!(
        q.prompt,
        "Find all the coins and give a bounding box for each one."
    );
    let boxes: [[i64; 4]; 24] = [
        [55, 106, 174, 244],
        [211, 129, 312, 244],
        [341, 92, 466, 244],
        [500, 99, 625, 241],
        [664, 112, 773, 238],
        [794, 53, 951, 238],
        [65, 343, 174, 479],
        [219, 353, 318, 479],
        [349, 363, 453, 479],
        [484, 347, 591, 475],
        [638, 317, 771, 475],
        [826, 347, 927, 479],
        [65, 587, 164, 716],
        [208, 578, 323, 716],
        [352, 591, 453, 716],
        [492, 561, 617, 713],
        [654, 568, 773, 713],
        [820, 515, 990, 716],
        [47, 769, 195, 950],
        [242, 809, 354, 947],
        [375, 782, 523, 947],
        [573, 795, 701, 950],
        [719, 792, 849, 950],
        [875, 818, 992, 954],
    ];
    let lines: Vec<String> = boxes
        .iter()
        .map(|[a, b, c, d]| format!("\t{{\"bbox_2d\": [{a}, {b}, {c}, {d}], \"label\": \"coin\"}}"))
        .collect();
    assert_eq!(
        q.answer,
        format!("```json\n[\n{}\n]\n```", lines.join(",\n"))
    );
    assert_eq!(q.meta["count"], 24);
}

#[test]
fn golden_point_grounding() {
    let q = one(
        Task::PointGrounding,
        &coco_records()[2],
        "eye",
        Convention::Qwen3,
    );
    assert_eq!(
        q.prompt,
        "Point to all the eyes in the image and output the point coordinates in JSON format."
    );
    // Polygon centres (171.5, 116.5) and (317.5, 136.5) on 451×300.
    assert_eq!(
        q.answer,
        "```json\n[\n\t{\"point_2d\": [380, 388], \"label\": \"eye\"},\n\t{\"point_2d\": [704, 455], \"label\": \"eye\"}\n]\n```"
    );
}

#[test]
fn golden_counting() {
    let q = one(Task::Counting, &coco_records()[2], "eye", Convention::Qwen3);
    assert_eq!(q.prompt, "What is the number of eyes in the image?");
    assert_eq!(q.answer, "2");
    assert_eq!(q.meta["annotation_ids"], serde_json::json!(["29", "30"]));
}

#[test]
fn golden_box_counting() {
    let q = one(
        Task::BoxCounting,
        &coco_records()[1],
        "cup",
        Convention::Qwen3,
    );
    assert_eq!(
        q.prompt,
        "Count the cups in the image: first locate each one with a bounding box in JSON format, then give the total."
    );
    // cup [172, 17, 410, 308]: 17 / 400 · 1000 = 42.5 rounds half to even, to 42.
    assert_eq!(
        q.answer,
        "```json\n[\n\t{\"bbox_2d\": [287, 42, 683, 770], \"label\": \"cup\"}\n]\n```\nThere is 1 cup."
    );
}

#[test]
fn golden_point_counting() {
    let q = one(
        Task::PointCounting,
        &coco_records()[1],
        "spoon",
        Convention::Qwen3,
    );
    assert_eq!(
        q.prompt,
        "How many spoons are in this image? Point to them first, then answer."
    );
    // A point on the spoon's bowl (the centroid of its larger polygon).
    assert_eq!(
        q.answer,
        "```json\n[\n\t{\"point_2d\": [615, 695], \"label\": \"spoon\"}\n]\n```\nThere is 1 spoon."
    );
}

#[test]
fn golden_spatial() {
    let t = Templates::builtin().unwrap();
    let mut c = cfg(Task::Spatial, Convention::Qwen3);
    c.turns = 4;
    let cat = questions(&coco_records()[2], &c, &t, 5).unwrap().unwrap();
    let text: Vec<(&str, &str)> = cat
        .iter()
        .map(|q| (q.prompt.as_str(), q.answer.as_str()))
        .collect();
    assert_eq!(
        text,
        [
            (
                "Which eye is nearest to the nose? Give its bounding box in JSON format.",
                "```json\n[\n\t{\"bbox_2d\": [647, 363, 761, 547], \"label\": \"eye\"}\n]\n```"
            ),
            (
                "Does the nose take up more of the picture than the cat?",
                "No."
            ),
        ],
        "the eyes are inside the cat: no 'nearest to the cat' question"
    );
    let coffee = questions(&coco_records()[1], &c, &t, 5).unwrap().unwrap();
    let rel: Vec<(&str, &str, &str)> = coffee
        .iter()
        .map(|q| {
            (
                q.meta["a"].as_str().unwrap(),
                q.meta["b"].as_str().unwrap(),
                q.answer.as_str(),
            )
        })
        .collect();
    // Areas: saucer 125600 > cup 69258 > spoon 26000; every box overlaps, so no left/above.
    assert_eq!(
        rel,
        [
            ("cup", "spoon", "Yes."),
            ("saucer", "cup", "Yes."),
            ("spoon", "saucer", "No.")
        ]
    );
}

#[test]
fn golden_other_conventions() {
    let rec = &coco_records()[2];
    let q = one(
        Task::MultiGrounding,
        rec,
        "eye",
        Convention::Qwen25(ResizeParams::default()),
    );
    // 451×300 → smart_resize 448×308: x · 448/451, y · 308/300.
    assert_eq!(
        q.answer,
        "```json\n[\n\t{\"bbox_2d\": [134, 88, 207, 151], \"label\": \"eye\"},\n\t{\"bbox_2d\": [290, 112, 341, 168], \"label\": \"eye\"}\n]\n```"
    );
    let q = one(Task::MultiGrounding, rec, "eye", Convention::Qwen2);
    assert_eq!(q.prompt, "Detect all eyes in this image.");
    assert_eq!(
        q.answer,
        "<|object_ref_start|>eye<|object_ref_end|><|box_start|>(299,287),(461,490)<|box_end|><|box_start|>(647,363),(761,547)<|box_end|>"
    );
}

#[test]
fn crowd_categories_are_never_counted_or_listed() {
    let t = Templates::builtin().unwrap();
    let mut rec = only(&coco_records()[0], "coin");
    rec.objects[3].crowd = true;
    for task in [
        Task::Counting,
        Task::MultiGrounding,
        Task::BoxCounting,
        Task::PointCounting,
    ] {
        let out = questions(&rec, &cfg(task, Convention::Qwen3), &t, 5).unwrap();
        assert_eq!(out, Err("crowd"), "{}", task.name());
    }
}

#[test]
fn listings_are_capped_but_direct_counts_are_not() {
    let t = Templates::builtin().unwrap();
    let rec = only(&coco_records()[0], "coin");
    let mut c = cfg(Task::MultiGrounding, Convention::Qwen3);
    c.max_objects = 20;
    assert_eq!(questions(&rec, &c, &t, 5).unwrap(), Err("over_cap"));
    c.task = Task::Counting;
    let qs = questions(&rec, &c, &t, 5).unwrap().unwrap();
    assert_eq!(qs[0].answer, "24");
}

#[test]
fn non_exhaustive_categories_and_missing_points_are_refused_with_reasons() {
    let t = Templates::builtin().unwrap();
    let mut rec = only(&coco_records()[1], "saucer");
    assert_eq!(
        questions(&rec, &cfg(Task::PointGrounding, Convention::Qwen3), &t, 5).unwrap(),
        Err("no_points"),
        "the saucer has no polygon, so no point"
    );
    rec.not_exhaustive = vec!["saucer".into()];
    assert_eq!(
        questions(&rec, &cfg(Task::Counting, Convention::Qwen3), &t, 5).unwrap(),
        Err("not_exhaustive")
    );
}

#[test]
fn negatives_follow_the_ratio() {
    let t = Templates::builtin().unwrap();
    let mut c = cfg(Task::Counting, Convention::Qwen3);
    c.turns = 1;
    let mut rec = coco_records()[0].clone();
    assert!(!rec.absent.is_empty());
    let mut negatives = 0;
    for i in 0..400 {
        rec.uid = format!("u{i}");
        let qs = questions(&rec, &c, &t, 5).unwrap().unwrap();
        negatives += usize::from(qs[0].meta["negative"] == true);
    }
    assert!(
        (70..=130).contains(&negatives),
        "{negatives} of 400 at ratio 0.25"
    );
}

/// Random records: up to 60 objects of 4 categories, some crowd, some outside categories
/// verified absent, some non-exhaustive.
fn random_record<R: rand::Rng>(rng: &mut R, i: usize) -> ImageRecord {
    use crate::canonical::Object;
    use crate::geometry::BBox;
    let (w, h) = (rng.random_range(40..3000u32), rng.random_range(40..3000u32));
    let cats = ["cat", "dog", "person", "bus"];
    let n = rng.random_range(0..60);
    let objects = (0..n)
        .map(|k| {
            let x1 = rng.random_range(0.0..f64::from(w) - 2.0);
            let y1 = rng.random_range(0.0..f64::from(h) - 2.0);
            let x2 = rng.random_range(x1 + 1.0..=f64::from(w));
            let y2 = rng.random_range(y1 + 1.0..=f64::from(h));
            Object {
                id: k.to_string(),
                category: cats[rng.random_range(0..cats.len())].into(),
                bbox: Some(BBox::new(x1, y1, x2, y2)),
                point: Some([(x1 + x2) / 2.0, (y1 + y2) / 2.0]),
                crowd: rng.random_bool(0.03),
                clipped: false,
                expressions: vec![],
            }
        })
        .collect();
    ImageRecord {
        uid: format!("r{i}"),
        source: "random".into(),
        annotation_file: "x.json".into(),
        image_id: i.to_string(),
        path: "x.png".into(),
        width: w,
        height: h,
        image: vec![],
        image_format: "png".into(),
        image_width: w,
        image_height: h,
        reencoded: false,
        objects,
        absent: vec!["kite".into(), "zebra".into()],
        not_exhaustive: if rng.random_bool(0.2) {
            vec!["bus".into()]
        } else {
            vec![]
        },
    }
}

/// Properties over random records, every listing/counting kind and convention: counts equal
/// the number of non-crowd annotations of the category, crowd and non-exhaustive categories
/// are never asked about, every listing parses back to exactly the converted annotations, and
/// no listing exceeds the cap.
#[test]
fn counts_and_listings_match_the_annotations() {
    let t = Templates::builtin().unwrap();
    let mut rng = weft_engine::rng::seeded(11, "property", "");
    let mut checked = 0;
    for i in 0..300 {
        let rec = random_record(&mut rng, i);
        for task in [
            Task::MultiGrounding,
            Task::PointGrounding,
            Task::Counting,
            Task::BoxCounting,
            Task::PointCounting,
        ] {
            for conv in [
                Convention::Qwen3,
                Convention::Qwen25(ResizeParams::default()),
                Convention::Qwen2,
            ] {
                if task.uses_points() && !conv.has_points() {
                    continue;
                }
                let mut c = cfg(task, conv);
                c.turns = 3;
                c.max_objects = 12;
                let Ok(qs) = questions(&rec, &c, &t, 9).unwrap() else {
                    continue;
                };
                let space = conv
                    .space((rec.width, rec.height), (rec.width, rec.height))
                    .unwrap();
                for q in qs {
                    let cat = q.meta["category"].as_str().unwrap();
                    let count = q.meta["count"].as_u64().unwrap() as usize;
                    let of_cat: Vec<&crate::canonical::Object> =
                        rec.objects.iter().filter(|o| o.category == cat).collect();
                    assert!(
                        of_cat.iter().all(|o| !o.crowd),
                        "crowd category {cat} asked"
                    );
                    assert!(!rec.not_exhaustive.iter().any(|c| c == cat));
                    assert_eq!(count, of_cat.len(), "count of {cat}");
                    assert_eq!(
                        q.meta["negative"] == true,
                        rec.absent.iter().any(|a| a == cat)
                    );
                    if task == Task::Counting {
                        assert_eq!(q.answer, count.to_string());
                        continue;
                    }
                    assert!(count <= 12, "listing over the cap");
                    let items = conv
                        .parse_listing(&q.answer)
                        .unwrap_or_else(|e| panic!("{e}: {}", q.answer));
                    let mut got: Vec<crate::convention::Geom> =
                        items.iter().map(|it| it.geom).collect();
                    let mut want: Vec<crate::convention::Geom> = of_cat
                        .iter()
                        .map(|o| {
                            if task.uses_points() {
                                crate::convention::Geom::Point(space.point(o.point.unwrap()))
                            } else {
                                crate::convention::Geom::Box(space.bbox(&o.bbox.unwrap()))
                            }
                        })
                        .collect();
                    let key = |g: &crate::convention::Geom| format!("{g:?}");
                    got.sort_by_key(key);
                    want.sort_by_key(key);
                    assert_eq!(got, want, "{} {}", task.name(), conv.name());
                    assert!(items.iter().all(|it| it.label == cat));
                    if task != Task::MultiGrounding && task != Task::PointGrounding {
                        let tail = q.answer.lines().last().unwrap();
                        let n = if count == 0 {
                            "no".to_string()
                        } else {
                            count.to_string()
                        };
                        assert!(tail.contains(&format!(" {n} ")), "{tail} for {count}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked > 1000, "{checked}");
}

#[test]
fn point_only_records_count_but_have_no_boxes_to_list() {
    // PixMo-style: points, no boxes.
    let t = Templates::builtin().unwrap();
    let mut rec = only(&coco_records()[0], "coin");
    for o in &mut rec.objects {
        o.bbox = None;
    }
    let qs = questions(&rec, &cfg(Task::Counting, Convention::Qwen3), &t, 5)
        .unwrap()
        .unwrap();
    assert_eq!(qs[0].answer, "24");
    let out = questions(&rec, &cfg(Task::PointCounting, Convention::Qwen3), &t, 5).unwrap();
    assert!(out.unwrap()[0].answer.ends_with("There are 24 coins."));
    assert_eq!(
        questions(&rec, &cfg(Task::MultiGrounding, Convention::Qwen3), &t, 5).unwrap(),
        Err("no_boxes")
    );
}
