//! Reference data: deadline previews, schools and authorities.

use super::*;

impl Charte {
    /// The deadline a review would get, for planning before submitting.
    pub async fn preview_deadline(
        &self,
        kind: Option<&str>,
        uai: Option<&str>,
        submitted_at: Option<&str>,
    ) -> AppResult<DeadlineView> {
        let mut v = Vec::new();
        let days = match kind.map(MessageKind::parse) {
            Some(Some(k)) => match k.review_days() {
                Some(d) => Some(d),
                None => {
                    v.push(Violation::new(
                        "kind",
                        "Une communication d'urgence est publiée sans délai d'examen.",
                    ));
                    None
                }
            },
            _ => {
                v.push(Violation::new("kind", "Précisez `kind` : recurring (5 jours ouvrables) ou one_off (3 jours ouvrables)."));
                None
            }
        };
        let school = match uai.map(Uai::parse_exact) {
            Some(Ok(u)) => match self.store.school(&u).await? {
                Some(s) => Some(s),
                None => {
                    v.push(Violation::new(
                        "uai",
                        format!("L'établissement {u} est inconnu de l'annuaire."),
                    ));
                    None
                }
            },
            Some(Err(e)) => {
                v.push(Violation::new("uai", e.to_string()));
                None
            }
            None => {
                v.push(Violation::new(
                    "uai",
                    "Précisez `uai` : le calendrier dépend de l'établissement.",
                ));
                None
            }
        };
        let at = match submitted_at {
            None => Some(self.now()),
            Some(s) => match crate::domain::calendar::parse_instant(s) {
                Ok(t) => Some(t),
                Err(e) => {
                    let hint = if matches!(e, crate::domain::calendar::InstantError::Unreadable(_))
                    {
                        " (encodez « + » en %2B dans l'URL)"
                    } else {
                        ""
                    };
                    v.push(Violation::new(
                        "submitted_at",
                        crate::domain::message::capitalise(&format!("{e}{hint}.")),
                    ));
                    None
                }
            },
        };
        let (Some(days), Some(school), Some(at)) = (days, school, at) else {
            return Err(AppError::Invalid(v));
        };
        let dept = Self::department(&school)?;
        let zone = zone_for_academie(&school.academie_name);
        let d = self.calendar.deadline(DeadlineQuery {
            submitted_at: at,
            business_days: days,
            department: &dept,
            zone: zone.as_ref(),
        });
        Ok(present::deadline_view(
            Some(school.uai.as_str()),
            &dept,
            at,
            days,
            &d,
        ))
    }

    /// The directory's schools, filtered.
    pub async fn schools(
        &self,
        q: &ListQuery,
        department: Option<&str>,
        academie: Option<&str>,
        school_type: Option<&str>,
    ) -> AppResult<SchoolPage> {
        let mut v = Vec::new();
        let uai = match q.uai.as_deref() {
            Some(u) => Uai::parse_exact(u)
                .map_err(|e| v.push(Violation::new("uai", e.to_string())))
                .ok(),
            None => None,
        };
        let department = match department {
            Some(d) => Department::parse(d)
                .map_err(|e| {
                    v.push(Violation::new(
                        "department",
                        crate::domain::message::capitalise(&format!("{e}.")),
                    ))
                })
                .ok(),
            None => None,
        };
        if let Some(t) = school_type
            && !["ecole", "college", "lycee", "other"].contains(&t)
        {
            v.push(Violation::new(
                "type",
                format!("Type d'établissement inconnu « {t} » : ecole, college, lycee ou other."),
            ));
        }
        if !v.is_empty() {
            return Err(AppError::Invalid(v));
        }
        let all = self.store.schools().await?;
        let keyed = all
            .into_iter()
            .filter(|s| {
                department
                    .as_ref()
                    .is_none_or(|d| Department::parse(&s.department).is_ok_and(|own| &own == d))
            })
            .filter(|s| academie.is_none_or(|a| s.academie_code == a))
            .filter(|s| school_type.is_none_or(|t| present::school_type(s) == t))
            .filter(|s| uai.as_ref().is_none_or(|u| &s.uai == u))
            .map(|s| (s.uai.as_str().to_owned(), present::school_view(&s)))
            .collect();
        let (items, next_cursor) = paginate(keyed, q)?;
        Ok(SchoolPage { items, next_cursor })
    }

    /// The directory's authorities, with their count of emergencies.
    pub async fn authorities(&self, kind: Option<&str>) -> AppResult<Vec<AuthorityView>> {
        if let Some(k) = kind
            && !["region", "departement", "commune"].contains(&k)
        {
            return Err(AppError::invalid(
                "kind",
                format!("Type de collectivité inconnu « {k} » : region, departement ou commune."),
            ));
        }
        let mut out = Vec::new();
        for a in &self.directory.authorities {
            let k = present::authority_kind(a);
            if kind.is_some_and(|want| want != k) {
                continue;
            }
            let emergencies = self
                .store
                .messages_of_authority(&a.id)
                .await?
                .iter()
                .filter(|m| m.kind == MessageKind::Emergency)
                .count();
            out.push(AuthorityView {
                id: a.id.clone(),
                name: a.name.clone(),
                kind: k.to_owned(),
                code: a.code.clone(),
                emergencies,
            });
        }
        Ok(out)
    }
}
