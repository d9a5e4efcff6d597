//! Reads a chat-completions answer into a [`Response`], refusing anything that would silently
//! give a pipeline wrong data: a missing or unknown `finish_reason` (a tool call or a content
//! filter is not a caption), fewer or more choices than asked for, a missing prompt token count.

use serde::Deserialize;

use crate::api::{Completion, FinishReason, Response};

/// The fields we use; servers add many more, which are ignored.
#[derive(Deserialize)]
struct ChatCompletion {
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    index: usize,
    message: Option<ChoiceMessage>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChoiceMessage {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: usize,
}

/// Parses a successful answer to a request for `n` completions; `Err` is the reason.
pub(super) fn parse(body: &[u8], n: usize) -> Result<Response, String> {
    let answer: ChatCompletion = serde_json::from_slice(body).map_err(|e| {
        format!(
            "unreadable chat completion ({e}): {}",
            super::call::excerpt(body)
        )
    })?;
    let mut choices = answer.choices;
    choices.sort_by_key(|c| c.index);
    let indices: Vec<usize> = choices.iter().map(|c| c.index).collect();
    if indices != (0..n).collect::<Vec<_>>() {
        return Err(format!(
            "asked for {n} choices, got {} with indices {indices:?}",
            choices.len()
        ));
    }
    let completions = choices
        .into_iter()
        .map(|c| {
            let finish_reason = match c.finish_reason.as_deref() {
                Some("stop") => FinishReason::Stop,
                Some("length") => FinishReason::Length,
                other => {
                    let got = other.map_or("null".to_string(), |r| format!("{r:?}"));
                    return Err(format!(
                        "choice {}: finish_reason {got} is neither \"stop\" nor \"length\"",
                        c.index
                    ));
                }
            };
            let text = c
                .message
                .and_then(|m| m.content)
                .ok_or_else(|| format!("choice {}: no message content", c.index))?;
            Ok(Completion {
                text,
                token_ids: Vec::new(),
                finish_reason,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    let prompt_tokens = answer
        .usage
        .ok_or("no usage.prompt_tokens in the answer")?
        .prompt_tokens;
    Ok(Response {
        completions,
        prompt_tokens,
    })
}
