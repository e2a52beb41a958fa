"""`manage.py train_descriptor`: learn a whitening from the gallery's hotel labels.

Fits on the raw vectors the search is built from (and person-erased copies of a
sample of photos, and the queries investigators confirmed: `matcher.decisions`),
scores it on held-out gallery photos beside the serving model, and promotes it only
when it is better: Celery batches then write the whitened vectors and the search
switches once they are complete. The same work runs as the Celery task
`matcher.tasks.train_descriptor`.
"""

from django.core.management.base import BaseCommand, CommandError

from matcher import learning, tasks


class Command(BaseCommand):
    help = "Learn a whitening from the gallery's hotels; promote it when it beats the serving one."

    def add_arguments(self, parser):
        parser.add_argument("--shrinkage", type=float, default=learning.SHRINKAGE)
        parser.add_argument("--power", type=float, default=learning.POWER)
        parser.add_argument(
            "--masked-sample",
            type=int,
            default=learning.MASKED_SAMPLE,
            help="photos decoded again to fit on a person-erased copy (0: none; needs the CNN)",
        )

    def handle(self, *args, shrinkage, power, masked_sample, **options):
        try:
            row = tasks.train_and_promote(
                shrinkage=shrinkage, power=power, masked_sample=masked_sample
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        scores = row.heldout
        verdicts = scores.get("decisions")
        judged = (
            f"; held-out verdicts ordered right {verdicts['candidate']:.3f} against "
            f"{verdicts['serving']:.3f} served ({verdicts['pairs']} pairs)"
            if verdicts
            else ""
        )
        self.stdout.write(
            f"{row.key}: {row.photos} photos of {row.hotels} hotels and "
            f"{row.params.get('confirmed_queries', 0)} confirmed queries; held-out hotel top-1 "
            f"{scores['candidate']:.3f} against {scores['serving']:.3f} served "
            f"({scores['queries']} photos){judged}: {row.state}"
        )
