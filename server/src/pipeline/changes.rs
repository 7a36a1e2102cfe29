//! Which top-level forms of a file changed since its last successful patch, so that a save
//! patches only those (and a save that changed nothing patches nothing).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::reader::{DefKind, Form, FormKind};
use crate::stages::VarName;

/// How a form is recognised from one version of a file to the next: definitions by their
/// kind and var (`ns/name`: a `(defonce state ...)` in each of two namespaces is two vars),
/// other forms by their position among the file's other forms of that kind.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum FormIdentity {
    Def { keyword: DefKind, var: VarName },
    Other { kind: &'static str, index: usize },
}

/// The normalized text of every form as last patched, per file.
#[derive(Default)]
pub struct PatchedForms {
    files: HashMap<PathBuf, HashMap<FormIdentity, String>>,
}

impl PatchedForms {
    /// The forms of `forms` whose normalized text differs from the last successful patch,
    /// with their identity and normalized text. `ns` and `comment` forms are never patched.
    pub fn changed<'f>(
        &self,
        path: &Path,
        text: &str,
        ns: &str,
        forms: &'f [Form],
    ) -> Vec<(&'f Form, FormIdentity, String)> {
        let before = self.files.get(path);
        identify(ns, forms)
            .filter(|(form, _)| !matches!(form.kind, FormKind::Ns | FormKind::Comment))
            .filter_map(|(form, identity)| {
                let normalized = form.normalized(text);
                let unchanged = before.and_then(|b| b.get(&identity)) == Some(&normalized);
                (!unchanged).then_some((form, identity, normalized))
            })
            .collect()
    }

    pub fn record(&mut self, path: &Path, identity: FormIdentity, normalized: String) {
        self.files.entry(path.to_path_buf()).or_default().insert(identity, normalized);
    }

    /// Forgets the definitions of `var` in `path`, so that the next save patches them again
    /// (after an undo, the page runs other code than the file says).
    pub fn forget(&mut self, path: &Path, var: &VarName) {
        if let Some(forms) = self.files.get_mut(path) {
            forms.retain(|identity, _| !matches!(identity, FormIdentity::Def { var: v, .. } if v == var));
        }
    }

    /// Whether a definition with this identity (the same var) was patched before in any file.
    pub fn was_patched(&self, identity: &FormIdentity) -> bool {
        self.files.values().any(|forms| forms.contains_key(identity))
    }
}

/// The identity of one form among the forms of a file in namespace `ns`.
pub fn identity_of(ns: &str, forms: &[Form], target: &Form) -> FormIdentity {
    if let (FormKind::Def(keyword), Some(name)) = (&target.kind, &target.name) {
        return FormIdentity::Def { keyword: keyword.clone(), var: VarName::new(ns, name) };
    }
    identify(ns, forms)
        .find(|(form, _)| std::ptr::eq(*form, target) || form.range == target.range)
        .map(|(_, identity)| identity)
        .unwrap_or(FormIdentity::Other { kind: "expression", index: usize::MAX })
}

fn identify<'f>(ns: &str, forms: &'f [Form]) -> impl Iterator<Item = (&'f Form, FormIdentity)> {
    let mut counts: HashMap<&'static str, usize> = HashMap::new();
    let ns = ns.to_string();
    forms.iter().map(move |form| {
        let identity = match (&form.kind, &form.name) {
            (FormKind::Def(keyword), Some(name)) => {
                FormIdentity::Def { keyword: keyword.clone(), var: VarName::new(&ns, name) }
            }
            (kind, _) => {
                let kind = match kind {
                    FormKind::Def(_) => "def",
                    FormKind::Ns => "ns",
                    FormKind::Comment => "comment",
                    FormKind::Expression => "expression",
                };
                let index = counts.entry(kind).or_default();
                *index += 1;
                FormIdentity::Other { kind, index: *index - 1 }
            }
        };
        (form, identity)
    })
}
