"""Maintenance bookkeeping: the archive files' manifest and the stale-lead check records."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('monitoring', '0006_job_runs'),
    ]

    operations = [
        migrations.CreateModel(
            name='ArchiveExport',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('month', models.DateField(help_text='First day of the UTC calendar month.', unique=True)),
                ('file_name', models.CharField(help_text='File name inside ARCHIVE_DIR.', max_length=200)),
                ('row_count', models.BigIntegerField(help_text='Rows written to the file.')),
                ('id_sum', models.DecimalField(decimal_places=0, help_text="Sum of the rows' ids: with the count, proves the rows deleted are the rows written.", max_digits=30)),
                ('sha256', models.CharField(help_text='Checksum of the compressed file.', max_length=64, verbose_name='SHA-256')),
                ('size_bytes', models.BigIntegerField()),
                ('exported_at', models.DateTimeField()),
                ('verified_at', models.DateTimeField(blank=True, help_text='Last time the file was read back and matched.', null=True)),
                ('status', models.CharField(choices=[('written', 'Written, not yet verified'), ('verified', 'Verified'), ('corrupt', 'File does not match manifest'), ('missing', 'File missing')], default='written', max_length=10)),
                ('rows_deleted', models.BigIntegerField(default=0, help_text='Archive rows deleted after the file was verified.')),
                ('deleted_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'db_table': 'monitoring_archive_export',
                'ordering': ['-month'],
            },
        ),
        migrations.CreateModel(
            name='StaleLeadCheck',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('checked_at', models.DateTimeField(db_index=True)),
                ('stale_count', models.IntegerField()),
                ('oldest_pending', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'db_table': 'monitoring_stale_lead_check',
                'ordering': ['-checked_at'],
            },
        ),
    ]
