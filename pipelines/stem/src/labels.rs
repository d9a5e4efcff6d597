//! Label vocabularies in several scripts (hand-written, common words): chart categories, series
//! names, titles and axis names. One script per chart, chosen by seed, so models see the same
//! charts labelled in Latin, Cyrillic, Greek, Han, kana and Hangul.

/// A script's words for one chart.
#[derive(Debug, Clone, Copy)]
pub struct Vocabulary {
    /// Script name recorded in `meta` (`latin`, `cyrillic`, …).
    pub script: &'static str,
    /// BCP 47 language of the words.
    pub lang: &'static str,
    /// Category names (fruits).
    pub categories: &'static [&'static str],
    /// Series names (regions).
    pub series: &'static [&'static str],
    /// Chart titles.
    pub titles: &'static [&'static str],
    /// Value axis name.
    pub value_axis: &'static str,
    /// Category axis name.
    pub category_axis: &'static str,
    /// Time axis name.
    pub year_axis: &'static str,
}

/// Every vocabulary.
pub const VOCABULARIES: &[Vocabulary] = &[
    Vocabulary {
        script: "latin",
        lang: "en",
        categories: &[
            "Apple", "Banana", "Cherry", "Grape", "Lemon", "Mango", "Orange", "Peach", "Pear",
            "Plum",
        ],
        series: &["North", "South", "East", "West"],
        titles: &["Fruit sales", "Harvest by fruit", "Units sold"],
        value_axis: "Units",
        category_axis: "Fruit",
        year_axis: "Year",
    },
    Vocabulary {
        script: "cyrillic",
        lang: "ru",
        categories: &[
            "Яблоко",
            "Банан",
            "Вишня",
            "Виноград",
            "Лимон",
            "Манго",
            "Апельсин",
            "Персик",
            "Груша",
            "Слива",
        ],
        series: &["Север", "Юг", "Восток", "Запад"],
        titles: &["Продажи фруктов", "Урожай по видам"],
        value_axis: "Штук",
        category_axis: "Фрукт",
        year_axis: "Год",
    },
    Vocabulary {
        script: "greek",
        lang: "el",
        categories: &[
            "Μήλο",
            "Μπανάνα",
            "Κεράσι",
            "Σταφύλι",
            "Λεμόνι",
            "Μάνγκο",
            "Πορτοκάλι",
            "Ροδάκινο",
            "Αχλάδι",
            "Δαμάσκηνο",
        ],
        series: &["Βορράς", "Νότος", "Ανατολή", "Δύση"],
        titles: &["Πωλήσεις φρούτων", "Συγκομιδή ανά φρούτο"],
        value_axis: "Μονάδες",
        category_axis: "Φρούτο",
        year_axis: "Έτος",
    },
    Vocabulary {
        script: "han",
        lang: "zh",
        categories: &[
            "苹果", "香蕉", "樱桃", "葡萄", "柠檬", "芒果", "橙子", "桃子", "梨", "李子",
        ],
        series: &["北区", "南区", "东区", "西区"],
        titles: &["各水果销量", "水果收成"],
        value_axis: "数量",
        category_axis: "水果",
        year_axis: "年份",
    },
    Vocabulary {
        script: "kana",
        lang: "ja",
        categories: &[
            "りんご",
            "バナナ",
            "さくらんぼ",
            "ぶどう",
            "レモン",
            "マンゴー",
            "みかん",
            "もも",
            "なし",
            "うめ",
        ],
        series: &["北部", "南部", "東部", "西部"],
        titles: &["果物の売上", "果物別の収穫量"],
        value_axis: "個数",
        category_axis: "果物",
        year_axis: "年",
    },
    Vocabulary {
        script: "hangul",
        lang: "ko",
        categories: &[
            "사과",
            "바나나",
            "체리",
            "포도",
            "레몬",
            "망고",
            "오렌지",
            "복숭아",
            "배",
            "자두",
        ],
        series: &["북부", "남부", "동부", "서부"],
        titles: &["과일 판매량", "과일별 수확량"],
        value_axis: "개수",
        category_axis: "과일",
        year_axis: "연도",
    },
];

/// A vocabulary by script name.
pub fn by_script(script: &str) -> Option<&'static Vocabulary> {
    VOCABULARIES.iter().find(|v| v.script == script)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vocabulary_has_distinct_words_enough_for_the_largest_chart() {
        for v in VOCABULARIES {
            let mut c = v.categories.to_vec();
            c.sort();
            c.dedup();
            assert!(c.len() >= 8, "{}", v.script);
            let mut s = v.series.to_vec();
            s.sort();
            s.dedup();
            assert!(s.len() >= 3, "{}", v.script);
        }
    }
}
