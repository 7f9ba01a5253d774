//! The audit log as admins read it: newest first, paginated by id.

use super::*;

impl Auth {
    /// Audit entries, newest first; `cursor` is the id of the last entry seen.
    pub async fn audit(
        &self,
        caller: &Caller,
        limit: usize,
        cursor: Option<Uuid>,
        actor: Option<String>,
        action: Option<String>,
    ) -> Result<(Vec<AuditEntry>, Option<Uuid>), Error> {
        allow(caller, Action::ReadAudit)?;
        let store = self.0.store.clone();
        tokio::task::spawn_blocking(move || {
            let filter = |e: &AuditEntry| {
                actor
                    .as_deref()
                    .is_none_or(|a| e.actor.as_deref() == Some(a))
                    && action.as_deref().is_none_or(|a| e.action == a)
            };
            store.read(|r| r.audit_page(cursor, limit, AUDIT_BUDGET, &filter))
        })
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("audit task failed: {e}")))?
        .map_err(Error::from)
    }
}
