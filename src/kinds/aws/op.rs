//! One AWS operation declared once: the input fields it takes, the SDK call that uses them and
//! the output it returns, all in one `operations!` entry, so the three cannot drift apart.

use futures::future::BoxFuture;
use serde_json::Value;

use super::{AwsClients, AwsFailure, Input};

/// One supported operation: its API name, the input fields it takes, and the call.
pub struct Op {
    pub name: &'static str,
    pub input: &'static [&'static str],
    pub call: for<'a> fn(&'a AwsClients, &'a Input<'a>) -> BoxFuture<'a, Result<Value, AwsFailure>>,
}

/// Declares a service's `OPS`. Each entry names the operation, the client binding, and its
/// input fields with the `Input` reader that reads each (`str`, `req_str`, `strs`, `i32`...);
/// the body makes the SDK call with them and returns the output JSON.
///
/// The body sees only the declared fields (the step's whole `input` is out of its reach), and
/// a declared field the body does not pass on is an unused variable, denied: it does not
/// compile, so a field cannot be accepted at load time and then silently dropped.
macro_rules! operations {
    ($(
        $name:ident($c:ident $(, $field:ident: $read:ident)* $(,)?) $body:block
    )*) => {
        pub const OPS: &[super::op::Op] = &[$(
            super::op::Op {
                name: stringify!($name),
                input: &[$(stringify!($field)),*],
                call: |$c, #[allow(unused_variables)] input| Box::pin(async move {
                    // Fields keep the API's own names (`DocumentName`, `desiredCount`).
                    $(
                        #[allow(non_snake_case)]
                        #[deny(unused_variables)]
                        let $field = input.$read(stringify!($field))?;
                    )*
                    $body
                }),
            },
        )*];
    };
}

/// Every page, as the AWS CLI reads them, unless the step pages itself (it gives a token or a
/// page size): a page can be empty and still carry a next token, so one page proves nothing
/// absent. `all` reads every page (the SDK's paginator), `one` sends the request once.
pub async fn pages<R, O, E, All, One>(
    self_paged: bool,
    req: R,
    all: impl FnOnce(R) -> All,
    one: impl FnOnce(R) -> One,
) -> Result<Vec<O>, AwsFailure>
where
    All: Future<Output = Result<Vec<O>, E>>,
    One: Future<Output = Result<O, E>>,
    AwsFailure: From<E>,
{
    if self_paged {
        Ok(vec![one(req).await?])
    } else {
        Ok(all(req).await?)
    }
}

/// Every page of a listing the SDK has no paginator for (Route53's): `fetch` reads the page at
/// a marker and `next` gives the marker of the page after it, if any. A step that pages itself
/// gets one page. A marker seen before would read the same pages forever: an endpoint that
/// answers so is an error, not an endless step.
pub async fn marked_pages<M, O, Fut>(
    self_paged: bool,
    start: M,
    mut fetch: impl FnMut(M) -> Fut,
    next: impl Fn(&O) -> Option<M>,
) -> Result<Vec<O>, AwsFailure>
where
    M: PartialEq + Clone,
    Fut: Future<Output = Result<O, AwsFailure>>,
{
    let (mut pages, mut seen, mut marker) = (Vec::new(), Vec::new(), start);
    loop {
        let page = fetch(marker).await?;
        let after = if self_paged { None } else { next(&page) };
        pages.push(page);
        let Some(after) = after else {
            return Ok(pages);
        };
        if seen.contains(&after) {
            return Err(AwsFailure::Service {
                code: "PaginationStalled".into(),
                message: "the service answered a next page it had already given".into(),
            });
        }
        seen.push(after.clone());
        marker = after;
    }
}

/// Whether the step pages itself: it names a page to start from or a page size.
pub fn self_paged<A, B>(token: &Option<A>, size: &Option<B>) -> bool {
    token.is_some() || size.is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_step_that_pages_itself_gets_one_page_else_every_page() {
        let all = |r: u8| async move { Ok::<_, AwsFailure>(vec![r, r + 1]) };
        let one = |r: u8| async move { Ok::<_, AwsFailure>(r) };
        assert_eq!(pages(false, 1, all, one).await.unwrap(), [1, 2]);
        assert_eq!(pages(true, 1, all, one).await.unwrap(), [1]);
        assert!(self_paged(&Some("token"), &None::<i32>));
        assert!(self_paged(&None::<&str>, &Some(5)));
        assert!(!self_paged(&None::<&str>, &None::<i32>));
    }

    /// Pages `0..=last`, each giving the next number; `back` sends page 2 back to page 1.
    async fn numbered(self_paged: bool, last: u8, back: bool) -> Result<Vec<u8>, AwsFailure> {
        let fetch = |n: u8| async move { Ok(n) };
        let next = |n: &u8| match *n {
            2 if back => Some(1),
            n if n < last => Some(n + 1),
            _ => None,
        };
        marked_pages(self_paged, 0, fetch, next).await
    }

    #[tokio::test]
    async fn marked_pages_follow_markers_to_the_end_and_stop_on_a_page_given_again() {
        assert_eq!(numbered(false, 3, false).await.unwrap(), [0, 1, 2, 3]);
        assert_eq!(numbered(true, 3, false).await.unwrap(), [0]);
        match numbered(false, 5, true).await {
            Err(AwsFailure::Service { code, .. }) => assert_eq!(code, "PaginationStalled"),
            other => panic!("{other:?}"),
        }
    }
}
