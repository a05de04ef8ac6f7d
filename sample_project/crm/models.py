# Django models for the Zoho CRM modules Leads, written by
# `manage.py zcrm_inspect` from Zoho's field metadata. Review them (rename or drop
# fields), put them in an app's models.py, set
#     ZCRM["SYNC_MODELS"] = {"Leads": "yourapp.Lead"}
# and run makemigrations, then zcrm_sync.
from django.db import models

from django_zcrm.sync import ZohoSyncedModel
from django_zcrm.sync import mapping as zoho


class Lead(ZohoSyncedModel):
    """Zoho CRM module Leads (written by zcrm_inspect)."""

    owner_id = models.CharField(
        "Lead Owner (id)", max_length=32, blank=True, default="", db_index=True,
    )
    owner_name = models.CharField("Lead Owner", max_length=255, blank=True, default="")
    salutation = models.CharField(
        "Salutation", max_length=255, blank=True, default="",
        choices=[
            ("Mr.", "Mr."),
            ("Mrs.", "Mrs."),
            ("Ms.", "Ms."),
            ("Dr.", "Dr."),
            ("Prof.", "Prof."),
        ],
    )
    first_name = models.CharField("First Name", max_length=40, blank=True, default="")
    last_name = models.CharField("Last Name", max_length=80, blank=False, default="")
    full_name = models.CharField("Full Name", max_length=120, blank=True, default="")
    company = models.CharField("Company", max_length=200, blank=False, default="")
    designation = models.CharField("Title", max_length=100, blank=True, default="")
    email = models.EmailField("Email", max_length=100, blank=True, default="")
    secondary_email = models.EmailField("Secondary Email", max_length=100, blank=True, default="")
    phone = models.CharField("Phone", max_length=30, blank=True, default="")
    mobile = models.CharField("Mobile", max_length=30, blank=True, default="")
    fax = models.CharField("Fax", max_length=30, blank=True, default="")
    website = models.URLField("Website", max_length=255, blank=True, default="")
    lead_source = models.CharField(
        "Lead Source", max_length=255, blank=True, default="",
        choices=[
            ("Advertisement", "Advertisement"),
            ("Cold Call", "Cold Call"),
            ("Employee Referral", "Employee Referral"),
            ("External Referral", "External Referral"),
            ("Online Store", "Online Store"),
            ("Partner", "Partner"),
            ("Public Relations", "Public Relations"),
            ("Sales Email Alias", "Sales Email Alias"),
            ("Seminar Partner", "Seminar Partner"),
            ("Internal Seminar", "Internal Seminar"),
            ("Trade Show", "Trade Show"),
            ("Web Download", "Web Download"),
            ("Web Research", "Web Research"),
            ("Chat", "Chat"),
        ],
    )
    lead_status = models.CharField(
        "Lead Status", max_length=255, blank=True, default="",
        choices=[
            ("Attempted to Contact", "Attempted to Contact"),
            ("Contact in Future", "Contact in Future"),
            ("Contacted", "Contacted"),
            ("Junk Lead", "Junk Lead"),
            ("Lost Lead", "Lost Lead"),
            ("Not Contacted", "Not Contacted"),
            ("Pre-Qualified", "Pre-Qualified"),
            ("Not Qualified", "Not Qualified"),
        ],
    )
    industry = models.CharField(
        "Industry", max_length=255, blank=True, default="",
        choices=[
            ("ASP (Application Service Provider)", "ASP (Application Service Provider)"),
            ("Data/Telecom OEM", "Data/Telecom OEM"),
            ("ERP (Enterprise Resource Planning)", "ERP (Enterprise Resource Planning)"),
            ("Government/Military", "Government/Military"),
            ("Large Enterprise", "Large Enterprise"),
            ("ManagementISV", "ManagementISV"),
            ("MSP (Management Service Provider)", "MSP (Management Service Provider)"),
            ("Network Equipment Enterprise", "Network Equipment Enterprise"),
            ("Non-management ISV", "Non-management ISV"),
            ("Optical Networking", "Optical Networking"),
            ("Service Provider", "Service Provider"),
            ("Small/Medium Enterprise", "Small/Medium Enterprise"),
            ("Storage Equipment", "Storage Equipment"),
            ("Storage Service Provider", "Storage Service Provider"),
            ("Systems Integrator", "Systems Integrator"),
            ("Wireless Industry", "Wireless Industry"),
        ],
    )
    no_of_employees = models.IntegerField("No. of Employees", null=True, blank=True)
    annual_revenue = models.DecimalField(
        "Annual Revenue", max_digits=18, decimal_places=2, null=True, blank=True,
    )
    rating = models.CharField(
        "Rating", max_length=255, blank=True, default="",
        choices=[
            ("Acquired", "Acquired"),
            ("Active", "Active"),
            ("Market Failed", "Market Failed"),
            ("Project Cancelled", "Project Cancelled"),
            ("Shut Down", "Shut Down"),
        ],
    )
    email_opt_out = models.BooleanField("Email Opt Out", default=False)
    skype_id = models.CharField("Skype ID", max_length=50, blank=True, default="")
    street = models.CharField("Street", max_length=250, blank=True, default="")
    city = models.CharField("City", max_length=100, blank=True, default="")
    state = models.CharField("State", max_length=100, blank=True, default="")
    zip_code = models.CharField("Zip Code", max_length=30, blank=True, default="")
    country = models.CharField("Country", max_length=100, blank=True, default="")
    description = models.TextField("Description", blank=True, default="")
    preferred_channels = models.JSONField("Preferred Channels", default=list, blank=True)
    follow_up_date = models.DateField("Follow Up Date", null=True, blank=True)
    lead_score_ratio = models.FloatField("Lead Score Ratio", null=True, blank=True)
    last_activity_time = models.DateTimeField("Last Activity Time", null=True, blank=True)
    created_by_id = models.CharField(
        "Created By (id)", max_length=32, blank=True, default="", db_index=True,
    )
    created_by_name = models.CharField("Created By", max_length=255, blank=True, default="")
    modified_by_id = models.CharField(
        "Modified By (id)", max_length=32, blank=True, default="", db_index=True,
    )
    modified_by_name = models.CharField("Modified By", max_length=255, blank=True, default="")
    created_time = models.DateTimeField("Created Time", null=True, blank=True)

    class ZohoMeta:
        module = "Leads"
        fields = {
            "Owner": zoho.Owner("owner_id", name="owner_name"),
            "Salutation": zoho.Picklist("salutation"),
            "First_Name": zoho.Text("first_name"),
            "Last_Name": zoho.Text("last_name"),
            "Full_Name": zoho.Text("full_name", read_only=True),
            "Company": zoho.Text("company"),
            "Designation": zoho.Text("designation"),
            "Email": zoho.Text("email"),
            "Secondary_Email": zoho.Text("secondary_email"),
            "Phone": zoho.Text("phone"),
            "Mobile": zoho.Text("mobile"),
            "Fax": zoho.Text("fax"),
            "Website": zoho.Text("website"),
            "Lead_Source": zoho.Picklist("lead_source"),
            "Lead_Status": zoho.Picklist("lead_status"),
            "Industry": zoho.Picklist("industry"),
            "No_of_Employees": zoho.Integer("no_of_employees"),
            "Annual_Revenue": zoho.Decimal("annual_revenue"),
            "Rating": zoho.Picklist("rating"),
            "Email_Opt_Out": zoho.Boolean("email_opt_out"),
            "Skype_ID": zoho.Text("skype_id"),
            "Street": zoho.Text("street"),
            "City": zoho.Text("city"),
            "State": zoho.Text("state"),
            "Zip_Code": zoho.Text("zip_code"),
            "Country": zoho.Text("country"),
            "Description": zoho.Text("description"),
            "Preferred_Channels": zoho.MultiSelect("preferred_channels"),
            "Follow_Up_Date": zoho.Date("follow_up_date"),
            "Lead_Score_Ratio": zoho.Float("lead_score_ratio"),
            "Last_Activity_Time": zoho.DateTime("last_activity_time", read_only=True),
            "Created_By": zoho.Owner("created_by_id", name="created_by_name", read_only=True),
            "Modified_By": zoho.Owner("modified_by_id", name="modified_by_name", read_only=True),
            "Created_Time": zoho.DateTime("created_time", read_only=True),
        }
        duplicate_check_fields = ["Email"]

    class Meta:
        verbose_name = "Lead"
        verbose_name_plural = "Leads"

    def __str__(self) -> str:
        return self.full_name or self.zoho_id or super().__str__()
