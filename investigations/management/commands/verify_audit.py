from django.core.management.base import BaseCommand, CommandError

from investigations.audit import verify_chain
from investigations.models import AuditChainHead


class Command(BaseCommand):
    help = (
        "Walk the audit trail's hash chain; report the first broken link (an entry "
        "altered or deleted) and exit non-zero, or print the head hash to note elsewhere."
    )

    def handle(self, *args, **options):
        report = verify_chain()
        if not report.ok:
            raise CommandError(
                f"audit chain broken after {report.checked} good entries: {report.problem}"
            )
        head = AuditChainHead.objects.filter(pk=1).first()
        last = head.last_hash if head and head.last_hash else "(empty)"
        self.stdout.write(f"Audit chain intact: {report.checked} entries, head {last}.")
